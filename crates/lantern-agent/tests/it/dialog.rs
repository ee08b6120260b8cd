//! The fast path over a real ledger: ordering, quoting, confirming, coupons, refusals.

use lantern_agent::AgentEvent;
use lantern_core::{MerchantStatus, Money};
use lantern_nlu::Awaiting;

use crate::support::{CAMPAIGN_NAME, COUPON_FEN, Chat, SHOPPER, TEA, TEA_WEST};

#[tokio::test]
async fn english_order_checkout_coupon_and_yes_places_the_quoted_order() {
    let mut chat = Chat::new();
    chat.shop.claim_for(SHOPPER);

    let added = chat.say("two large pearl milk teas with less sugar").await;
    assert!(added.text().contains("Added 2 × Pearl Milk Tea (Large, Less sugar)."), "{}", added.text());
    assert!(added.has("cart"));
    assert_eq!(chat.shop.n_placements(), 0);

    let quoted = chat.say("checkout").await;
    let quote = quoted.quote().expect("a quote").clone();
    // 2 × (15 + 3 for large) = 36, less the 25-yuan coupon.
    assert_eq!(quote.subtotal, Money::from_fen(3_600));
    assert_eq!(quote.discount, Money::from_fen(2_500));
    assert_eq!(quote.total, Money::from_fen(1_100));
    assert_eq!(quote.coupon_campaign.as_deref(), Some(CAMPAIGN_NAME));
    let text = quoted.text();
    assert!(text.contains("Subtotal ¥36.00, “Spring Festival” coupon −¥25.00, total ¥11.00."), "{text}");
    assert!(text.ends_with("Confirm this order of ¥11.00 at Lantern Tea?"), "{text}");
    assert_eq!(chat.session.awaiting(), Some(Awaiting::Confirmation));
    assert_eq!(chat.shop.coupon_status(SHOPPER).as_deref(), Some("held"));
    assert_eq!(chat.shop.n_placements(), 0, "nothing is placed before the yes");

    let placed = chat.say("yes").await;
    let order = placed.placed().expect("an order").clone();
    assert_eq!(placed.outcome.placed, Some(order.order));
    assert_eq!(order.total, Money::from_fen(1_100));
    assert_eq!(order.merchant, TEA);
    assert!(placed.text().starts_with(&format!("Order {} is placed at Lantern Tea: ¥11.00", order.order)));
    // Exactly the quote that was shown, and the coupon it held.
    assert_eq!(chat.shop.placements.lock()[0].0, quote.quote);
    assert_eq!(chat.shop.coupon_status(SHOPPER).as_deref(), Some("redeemed"));
    assert!(chat.session.cart().is_empty());
    assert_eq!(chat.agent.stats().orders_placed, 1);
}

#[tokio::test]
async fn chinese_order_checkout_and_confirmation() {
    let mut chat = Chat::new();
    chat.shop.claim_for(SHOPPER);

    let added = chat.say("我要两杯大杯珍珠奶茶，少糖").await;
    assert!(added.text().starts_with("已加入：珍珠奶茶 ×2（大杯，少糖）。"), "{}", added.text());

    let quoted = chat.say("结账").await;
    let text = quoted.text();
    assert!(text.contains("小计36.00元，“Spring Festival”优惠券减25.00元，合计11.00元。"), "{text}");
    assert!(text.ends_with("确认在灯笼茶饮下单，共11.00元吗？"), "{text}");
    assert_eq!(chat.shop.n_placements(), 0);

    let placed = chat.say("好的").await;
    assert!(placed.placed().is_some(), "{placed:?}");
    assert!(placed.text().starts_with("下单成功！灯笼茶饮订单"), "{}", placed.text());
    assert!(placed.text().contains("实付11.00元"), "{}", placed.text());
}

#[tokio::test]
async fn yes_or_confirm_before_any_quote_never_places() {
    let mut chat = Chat::new();
    let empty = chat.say("yes").await;
    assert_eq!(empty.text(), "Your cart is empty. What would you like?");

    chat.say("one latte").await;
    for confirm in ["yes", "place the order"] {
        let reply = chat.say(confirm).await;
        // Treated as checkout: the quote is shown and a yes is asked for.
        assert!(reply.quote().is_some(), "{confirm}: {reply:?}");
        assert!(reply.placed().is_none());
        assert!(
            reply.text().ends_with("Confirm this order of ¥22.00 at Starlight Coffee?"),
            "{}",
            reply.text()
        );
        assert_eq!(chat.shop.n_placements(), 0, "{confirm}");
        // The conversation moves on, so the next yes is not an answer to that quote.
        chat.say("thanks").await;
    }
    // A yes to a quote that the last answer did not ask about shows it again.
    let again = chat.say("yes").await;
    assert!(again.quote().is_some() && again.placed().is_none(), "{again:?}");
    assert_eq!(chat.shop.n_placements(), 0);
    let placed = chat.say("yes").await;
    assert!(placed.placed().is_some(), "{placed:?}");
}

#[tokio::test]
async fn a_repeated_yes_places_once() {
    let mut chat = Chat::new();
    chat.say("one lemonade").await;
    chat.say("checkout").await;
    let before_yes = chat.session.clone();

    let first = chat.say("yes").await;
    let order = first.placed().expect("placed").order;
    let second = chat.say("yes").await;
    assert!(second.placed().is_none());
    assert_eq!(second.text(), "Your cart is empty. What would you like?");
    assert_eq!(chat.shop.n_placements(), 1);

    // The same yes delivered twice (a retried request with the session as it was): the same
    // idempotency key answers the same order, and the ledger holds one.
    chat.session = before_yes;
    let replayed = chat.say("yes").await;
    assert_eq!(replayed.placed().map(|placed| placed.order), Some(order));
    let keys: Vec<String> = chat.shop.placements.lock().iter().map(|(_, key)| key.clone()).collect();
    assert_eq!(keys.len(), 2);
    assert_eq!(keys[0], keys[1]);
    assert_eq!(chat.shop.n_orders(), 1);
}

#[tokio::test]
async fn changing_the_cart_after_a_quote_cancels_it_and_needs_a_new_yes() {
    let mut chat = Chat::new();
    chat.shop.claim_for(SHOPPER);
    chat.say("two pearl milk teas").await;
    let old = chat.say("checkout").await.quote().expect("quote").clone();
    assert_eq!(chat.shop.coupon_status(SHOPPER).as_deref(), Some("held"));

    let changed = chat.say("add a lemonade").await;
    assert!(
        changed.text().contains("The earlier quote is cancelled, since the cart changed."),
        "{}",
        changed.text()
    );
    assert!(chat.shop.canceled_quotes.lock().contains(&old.quote));
    assert_eq!(
        chat.shop.coupon_status(SHOPPER).as_deref(),
        Some("claimed"),
        "the coupon is back in the wallet"
    );
    assert!(chat.session.pending_quote().is_none());

    // The yes that would have confirmed the old quote now only shows a new one.
    let requoted = chat.say("yes").await;
    let new = requoted.quote().expect("a new quote").clone();
    assert_ne!(new.quote, old.quote);
    assert_eq!(new.subtotal, Money::from_fen(3_600));
    assert_eq!(chat.shop.n_placements(), 0);

    let placed = chat.say("yes").await;
    assert!(placed.placed().is_some());
    assert_eq!(
        chat.shop.placements.lock().iter().map(|(quote, _)| *quote).collect::<Vec<_>>(),
        vec![new.quote]
    );
}

/// The shopper's other order took the coupon of the quote the chat holds: their yes cannot
/// place that quote, so the agent says why, shows a fresh one and says it costs more because
/// the coupon no longer applies, and asks again; it places nothing unconfirmed.
#[tokio::test]
async fn a_quote_whose_coupon_went_to_another_order_is_requoted_with_the_reason_and_the_difference() {
    let mut chat = Chat::new();
    chat.shop.claim_for(SHOPPER);
    chat.say("two pearl milk teas").await;
    let old = chat.say("checkout").await.quote().expect("quote").clone();
    assert_eq!(old.discount, Money::from_fen(COUPON_FEN));
    chat.shop.order_elsewhere(SHOPPER, TEA);

    let requoted = chat.say("yes").await;
    let fresh = requoted.quote().expect("a fresh quote").clone();
    assert_ne!(fresh.quote, old.quote);
    assert_eq!((fresh.subtotal, fresh.discount), (old.subtotal, Money::ZERO));
    assert!(requoted.placed().is_none());
    let text = requoted.text();
    let reason = text
        .find("That quote is no longer valid: it expired, or a newer quote or order of yours took its place.")
        .unwrap_or_else(|| panic!("no reason: {text}"));
    let more = text.find("It costs ¥25.00 more than before: the coupon no longer applies to it.");
    let more = more.unwrap_or_else(|| panic!("no difference: {text}"));
    assert!(reason < more, "{text}");
    assert_eq!(chat.shop.n_orders(), 1, "only the other order");

    let placed = chat.say("yes").await;
    assert_eq!(placed.placed().map(|order| order.total), Some(fresh.total));
}

#[tokio::test]
async fn a_coupon_below_its_minimum_spend_is_explained() {
    let mut chat = Chat::new();
    chat.shop.claim_for(SHOPPER);
    chat.say("one pearl milk tea").await;
    let quoted = chat.say("checkout").await;
    let quote = quoted.quote().expect("quote");
    assert_eq!(quote.discount, Money::ZERO);
    assert_eq!(quote.coupon_notes[0].reason_code, "discount_code_minimum_not_met");
    let text = quoted.text();
    assert!(
        text.contains(
            "Your 25-yuan “Spring Festival” coupon needs a 30-yuan order; add ¥15.00 more to use it."
        ),
        "{text}"
    );
    assert!(text.ends_with("Confirm this order of ¥15.00 at Lantern Tea?"), "{text}");

    let mut zh = Chat::new();
    zh.shop.claim_for(SHOPPER);
    zh.say("来一杯柠檬水").await;
    let text = zh.say("结账").await.text();
    assert!(text.contains("您的25元“Spring Festival”券需满30元才能用，还差24.00元。"), "{text}");
}

#[tokio::test]
async fn an_ambiguous_item_is_asked_about_and_a_number_picks_it() {
    let mut chat = Chat::new();
    let asked = chat.say("two milk tea").await;
    assert_eq!(
        asked.choices().cloned(),
        Some(vec!["Pearl Milk Tea · ¥15.00".to_string(), "Taro Milk Tea · ¥16.00".to_string()])
    );
    assert!(
        asked.text().contains("1) Pearl Milk Tea · ¥15.00; 2) Taro Milk Tea · ¥16.00"),
        "{}",
        asked.text()
    );
    assert_eq!(chat.session.awaiting(), Some(Awaiting::Choice(2)));
    assert!(chat.session.cart().is_empty());

    let picked = chat.say("2").await;
    assert!(picked.text().starts_with("Added 2 × Taro Milk Tea."), "{}", picked.text());
    let cart = chat.session.cart();
    assert_eq!(cart.len(), 1);
    assert_eq!((cart[0].item.get(), cart[0].quantity), (3, 2), "the pick keeps the quantity asked for");
}

#[tokio::test]
async fn a_busy_shop_offers_faster_shops_and_the_cart_can_move_there() {
    let mut chat = Chat::new();
    chat.say("one pearl milk tea").await;
    chat.say("checkout").await;
    chat.shop.set_status(TEA, MerchantStatus::Busy);

    let busy = chat.say("yes").await;
    assert!(busy.placed().is_none());
    let (eta_ms, alternatives) = busy
        .events
        .iter()
        .find_map(|event| match event {
            AgentEvent::Busy { eta_ms, alternatives, .. } => Some((*eta_ms, alternatives.clone())),
            _ => None,
        })
        .expect("a busy event");
    assert_eq!(eta_ms, 10_000, "one order's slot at 6 orders a minute");
    assert_eq!(
        alternatives.iter().map(|alternative| alternative.merchant).collect::<Vec<_>>(),
        vec![TEA_WEST]
    );
    let text = busy.text();
    assert!(
        text.starts_with(
            "Lantern Tea is busy, about 10 s; these can make it sooner: Lantern Tea West Gate (10 s)."
        ),
        "{text}"
    );
    assert_eq!(busy.choices().cloned(), Some(vec!["Lantern Tea West Gate · 10 s".to_string()]));

    let moved = chat.say("1").await;
    assert!(moved.text().starts_with("OK, I moved your cart to Lantern Tea West Gate."), "{}", moved.text());
    let quote = moved.quote().expect("a quote at the other shop").clone();
    assert_eq!(quote.merchant, TEA_WEST);
    assert!(moved.placed().is_none(), "moving needs a new yes");

    let placed = chat.say("yes").await;
    assert_eq!(placed.placed().map(|order| order.merchant), Some(TEA_WEST));
}

#[tokio::test]
async fn a_queued_placement_says_where_the_shopper_stands_and_the_next_yes_places_once() {
    let mut chat = Chat::new();
    chat.say("one lemonade").await;
    let quote = chat.say("checkout").await.quote().expect("quote").clone();
    chat.shop.queue_next_placement(1_204, 40_000);

    let queued = chat.say("yes").await;
    assert!(queued.placed().is_none());
    assert!(queued.has("queued"));
    assert_eq!(
        queued.text(),
        "You are number 1,204 in line, about 40 s. I'll keep your order; say “yes” again when I tell you."
    );
    assert_eq!(chat.shop.n_orders(), 0);
    assert_eq!(chat.session.pending_quote().map(|pending| pending.quote), Some(quote.quote));

    let placed = chat.say("yes").await;
    assert!(placed.placed().is_some());
    let placements = chat.shop.placements.lock().clone();
    assert_eq!(placements.len(), 2);
    assert_eq!(placements[0], placements[1], "the same quote under the same key");
    assert_eq!(chat.shop.n_orders(), 1);

    let mut zh = Chat::new();
    zh.say("来一杯柠檬水").await;
    zh.say("结账").await;
    zh.shop.queue_next_placement(1_204, 40_000);
    let text = zh.say("确认下单").await.text();
    assert!(text.starts_with("您前面还有1,204人，大约40秒。"), "{text}");
}

#[tokio::test]
async fn order_status_and_cancelling_it_gives_the_coupon_back() {
    let mut chat = Chat::new();
    let none = chat.say("where is my order").await;
    assert_eq!(none.text(), "You have no orders yet.");

    chat.shop.claim_for(SHOPPER);
    chat.say("two pearl milk teas").await;
    chat.say("checkout").await;
    let order = chat.say("yes").await.placed().expect("placed").clone();
    assert_eq!(chat.shop.coupon_status(SHOPPER).as_deref(), Some("redeemed"));

    let status = chat.say("where is my order").await;
    assert!(status.has("order_status"));
    assert_eq!(
        status.text(),
        format!("Order {} at Lantern Tea (¥5.00): placed, waiting for the shop, about 10 s.", order.order)
    );

    let canceled = chat.say("cancel it").await;
    assert_eq!(
        canceled.text(),
        format!("Order {} is cancelled; your coupon is back in your wallet.", order.order)
    );
    assert_eq!(chat.shop.coupon_status(SHOPPER).as_deref(), Some("claimed"));
    let again = chat.say("cancel my order").await;
    assert!(again.text().contains("can't be cancelled any more: it is cancelled"), "{}", again.text());
}

#[tokio::test]
async fn no_to_a_quote_cancels_it_and_keeps_the_cart() {
    let mut chat = Chat::new();
    chat.shop.claim_for(SHOPPER);
    chat.say("two pearl milk teas").await;
    let quote = chat.say("checkout").await.quote().expect("quote").clone();
    let no = chat.say("no").await;
    assert_eq!(no.text(), "OK, I won't place it. Your cart is kept; say “checkout” when you're ready.");
    assert!(chat.shop.canceled_quotes.lock().contains(&quote.quote));
    assert_eq!(chat.shop.coupon_status(SHOPPER).as_deref(), Some("claimed"));
    assert_eq!(chat.session.cart().len(), 1);
    let yes = chat.say("yes").await;
    assert!(yes.placed().is_none(), "the declined quote is gone; a yes only quotes again");
}

#[tokio::test]
async fn coupons_are_offered_claimed_listed_and_applied_to_a_pending_quote() {
    let mut chat = Chat::new();
    let none = chat.say("what coupons do I have").await;
    assert_eq!(
        none.text(),
        "You have no coupons yet. The “Spring Festival” campaign is open: say “use coupon” to claim one."
    );

    chat.say("two pearl milk teas").await;
    let before = chat.say("checkout").await.quote().expect("quote").clone();
    assert_eq!(before.total, Money::from_fen(3_000));

    let claimed = chat.say("use coupon").await;
    assert!(claimed.has("coupons"));
    assert!(claimed.text().starts_with("Done: you have a “Spring Festival” coupon"), "{}", claimed.text());
    // The pending quote is priced again with the coupon, and needs its own yes.
    let after = claimed.quote().expect("a new quote").clone();
    assert_eq!(after.total, Money::from_fen(500));
    assert!(chat.shop.canceled_quotes.lock().contains(&before.quote));
    assert!(claimed.text().ends_with("Confirm this order of ¥5.00 at Lantern Tea?"), "{}", claimed.text());

    let listed = chat.say("what coupons do I have").await;
    assert!(listed.text().starts_with(
        "Your coupons: Spring Festival: 25.00 off orders of 30.00 or more (held by your quote)."
    ));
}

#[tokio::test]
async fn items_from_another_shop_ask_before_switching() {
    let mut chat = Chat::new();
    chat.say("one pearl milk tea").await;
    let asked = chat.say("one latte").await;
    assert_eq!(
        asked.choices().cloned(),
        Some(vec![
            "Yes, switch to Starlight Coffee".to_string(),
            "No, keep my cart at Lantern Tea".to_string()
        ])
    );
    assert_eq!(chat.session.cart().len(), 1);
    let kept = chat.say("no").await;
    assert_eq!(kept.text(), "OK, your cart stays at Lantern Tea.");
    assert_eq!(chat.session.cart()[0].merchant, TEA);

    chat.say("one latte").await;
    let switched = chat.say("yes").await;
    assert!(switched.text().starts_with("Added 1 × Latte."), "{}", switched.text());
    assert_eq!(chat.session.cart().len(), 1);
    assert_eq!(chat.session.cart()[0].merchant, crate::support::COFFEE);
    assert_eq!(chat.shop.n_placements(), 0);
}

#[tokio::test]
async fn removing_items_and_showing_the_cart() {
    let mut chat = Chat::new();
    chat.say("a large oat latte with an extra shot").await;
    chat.say("and an americano").await;
    let cart = chat.say("show my cart").await;
    assert_eq!(
        cart.text(),
        "Your cart at Starlight Coffee: 1 × Latte (Large, Oat milk, Extra shot) and 1 × Americano. \
         Say “checkout” when you're ready."
    );
    let removed = chat.say("remove the latte").await;
    assert!(
        removed.text().starts_with("Removed 1 × Latte (Large, Oat milk, Extra shot)."),
        "{}",
        removed.text()
    );
    assert_eq!(chat.session.cart().len(), 1);
}

#[tokio::test]
async fn the_address_is_kept_and_part_of_the_confirmation() {
    let mut chat = Chat::new();
    chat.say("one lemonade").await;
    chat.say("checkout").await;
    let set = chat.say("deliver to 5 Main St").await;
    assert_eq!(
        set.text(),
        "I'll deliver to 5 Main St. Confirm this order of ¥6.00 at Lantern Tea, delivered to 5 Main St?"
    );
    assert_eq!(chat.session.address(), Some("5 Main St"));
    assert!(chat.say("yes").await.placed().is_some());
}

#[tokio::test]
async fn unknown_items_and_out_of_scope_get_honest_answers() {
    let mut chat = Chat::new();
    let weather = chat.say("what's the weather").await;
    assert_eq!(
        weather.text(),
        "I can help you order food and drinks, use coupons and track your orders. What would you like?"
    );
    assert!(!weather.outcome.used_llm && weather.outcome.llm_fallback.is_none());

    let burger = chat.say("a cheese burger please").await;
    assert!(burger.text().starts_with("I couldn't find “cheese burger” on the menus."), "{}", burger.text());
    assert!(chat.session.cart().is_empty());

    let greeting = chat.say("你好").await;
    assert_eq!(greeting.text(), "您好！今天想喝点什么？");
    assert_eq!(chat.agent.stats().fast_path_turns, 3);
}

/// A phrase on no menu ("奶茶" is the end of two names) offers what a search finds; the number
/// picked is read back into the message, so its quantity, size and sugar stay, and a reply of
/// just a number keeps the conversation's language.
#[tokio::test]
async fn a_search_result_picked_keeps_the_quantity_and_options_asked_for() {
    let mut chat = Chat::new();
    let asked = chat.say("2杯奶茶 大杯 少糖").await;
    assert!(asked.text().starts_with("菜单上没有找到“奶茶”。"), "{}", asked.text());
    assert_eq!(asked.choices().map(Vec::len), Some(2));
    let picked = chat.say("1").await;
    assert_eq!(picked.text(), "已加入：珍珠奶茶 ×2（大杯，少糖）。准备好了就说“结账”。");
    let cart = chat.session.cart();
    assert_eq!(cart.len(), 1);
    assert_eq!((cart[0].item.get(), cart[0].quantity, cart[0].size.map(|size| size.get())), (1, 2, Some(2)));
    assert_eq!(cart[0].options_added.len(), 1, "less sugar");
}

//! Every sentence the agent says, English and Chinese side by side, and the formatting of money,
//! counts and durations. Templates take only engine data (names from menus, amounts from quotes
//! and orders): nothing here is written by a model, so the money guard does not apply to them.
//!
//! Kept in one module so a wording change, or a third language, is one place to edit.

use lantern_core::{Money, Wait};
use lantern_nlu::Language;

use crate::shop::{Alternative, CouponInfo, OrderInfo, QuoteInfo, Waiting};

/// Money as the shopper reads it: `¥1,234.50` in English, `1,234.50元` in Chinese.
pub(crate) fn money(lang: Language, amount: Money) -> String {
    let fen = amount.fen();
    let sign = if fen < 0 { "-" } else { "" };
    let abs = fen.unsigned_abs();
    let yuan = count(abs / 100);
    let cents = abs % 100;
    match lang {
        Language::En => format!("{sign}¥{yuan}.{cents:02}"),
        Language::Zh => format!("{sign}{yuan}.{cents:02}元"),
    }
}

/// A whole number of yuan when the amount is one (`25`), else with its fen (`25.50`): for
/// "a 25-yuan coupon".
fn yuan_figure(amount: Money) -> String {
    let abs = amount.fen().unsigned_abs();
    if abs.is_multiple_of(100) { count(abs / 100) } else { format!("{}.{:02}", count(abs / 100), abs % 100) }
}

/// `1204` as `1,204` (both languages: the brief's Chinese wording keeps Western grouping).
pub(crate) fn count(n: u64) -> String {
    let digits = n.to_string();
    let mut out = String::with_capacity(digits.len() + digits.len() / 3);
    for (index, digit) in digits.chars().enumerate() {
        if index > 0 && (digits.len() - index).is_multiple_of(3) {
            out.push(',');
        }
        out.push(digit);
    }
    out
}

/// Milliseconds a shopper waits, in the shopper's language ([`Wait`]'s rounding): `40 s` / `40秒`
/// under a minute, else `25 min` / `25分钟`.
pub(crate) fn duration(lang: Language, ms: u64) -> String {
    match (Wait::from_ms(ms), lang) {
        (Wait::Seconds(seconds), Language::En) => format!("{seconds} s"),
        (Wait::Seconds(seconds), Language::Zh) => format!("{seconds}秒"),
        (Wait::Minutes(minutes), Language::En) => format!("{} min", count(minutes)),
        (Wait::Minutes(minutes), Language::Zh) => format!("{}分钟", count(minutes)),
    }
}

fn is_cjk(c: char) -> bool {
    matches!(c, '\u{3400}'..='\u{4dbf}' | '\u{4e00}'..='\u{9fff}' | '\u{f900}'..='\u{faff}')
}

/// The shopper's half of a bilingual menu name: `珍珠奶茶 Pearl Milk Tea` is `Pearl Milk Tea` in
/// English and `珍珠奶茶` in Chinese. Names not written "Chinese part, then Latin part" are shown
/// whole.
pub(crate) fn local_name(lang: Language, name: &str) -> String {
    let name = name.trim();
    if let Some((split, _)) = name.char_indices().find(|(_, c)| c.is_ascii_alphabetic()) {
        let (zh, en) = name.split_at(split);
        let zh = zh.trim();
        if zh.chars().any(is_cjk) && !en.chars().any(is_cjk) {
            return match lang {
                Language::En => en.trim().to_string(),
                Language::Zh => zh.to_string(),
            };
        }
    }
    name.to_string()
}

/// Joins list items: `A, B and C` / `A、B和C`.
pub(crate) fn list(lang: Language, items: &[String]) -> String {
    match items {
        [] => String::new(),
        [one] => one.clone(),
        [init @ .., last] => match lang {
            Language::En => format!("{} and {last}", init.join(", ")),
            Language::Zh => format!("{}和{last}", init.join("、")),
        },
    }
}

/// The sentence separator after a sentence: a space in English, nothing in Chinese.
pub(crate) fn join(lang: Language, sentences: &[String]) -> String {
    match lang {
        Language::En => sentences.join(" "),
        Language::Zh => sentences.concat(),
    }
}

/// `2 × Pearl Milk Tea (Large, Less sugar)` / `珍珠奶茶 ×2（大杯，少糖）`.
pub(crate) fn line(lang: Language, quantity: u32, name: &str, options: &[String]) -> String {
    match lang {
        Language::En if options.is_empty() => format!("{quantity} × {name}"),
        Language::En => format!("{quantity} × {name} ({})", options.join(", ")),
        Language::Zh if options.is_empty() => format!("{name} ×{quantity}"),
        Language::Zh => format!("{name} ×{quantity}（{}）", options.join("，")),
    }
}

pub(crate) fn added(lang: Language, lines: &[String]) -> String {
    match lang {
        Language::En => format!("Added {}.", list(lang, lines)),
        Language::Zh => format!("已加入：{}。", list(lang, lines)),
    }
}

pub(crate) fn cart(lang: Language, shop: &str, lines: &[String]) -> String {
    match lang {
        Language::En => format!("Your cart at {shop}: {}.", list(lang, lines)),
        Language::Zh => format!("购物车（{shop}）：{}。", list(lang, lines)),
    }
}

pub(crate) fn say_checkout(lang: Language) -> String {
    match lang {
        Language::En => "Say “checkout” when you're ready.".into(),
        Language::Zh => "准备好了就说“结账”。".into(),
    }
}

pub(crate) fn cart_empty(lang: Language) -> String {
    match lang {
        Language::En => "Your cart is empty. What would you like?".into(),
        Language::Zh => "购物车是空的。想点些什么？".into(),
    }
}

pub(crate) fn cart_full(lang: Language, max: usize) -> String {
    match lang {
        Language::En => format!("Your cart is full ({max} lines); check out or remove something first."),
        Language::Zh => format!("购物车已满（{max}行），请先结账或删掉一些。"),
    }
}

pub(crate) fn quote_dropped(lang: Language) -> String {
    match lang {
        Language::En => "The earlier quote is cancelled, since the cart changed.".into(),
        Language::Zh => "购物车有变动，之前的报价已取消。".into(),
    }
}

pub(crate) fn which_one(lang: Language, phrase: &str) -> String {
    match lang {
        Language::En => format!("Which one do you mean by “{phrase}”? Say the number."),
        Language::Zh => format!("您说的“{phrase}”是哪一款？请回复序号。"),
    }
}

pub(crate) fn which_item(lang: Language) -> String {
    match lang {
        Language::En => "Which item do you mean? Say the number.".into(),
        Language::Zh => "您指的是哪一款？请回复序号。".into(),
    }
}

pub(crate) fn which_shop(lang: Language, phrase: &str, shops: &[String]) -> String {
    match lang {
        Language::En => format!("Which “{phrase}” do you mean: {}?", list(Language::En, shops)),
        Language::Zh => format!("您说的“{phrase}”是哪一家：{}？", list(Language::Zh, shops)),
    }
}

pub(crate) fn not_on_menu(lang: Language, phrase: &str) -> String {
    match lang {
        Language::En => format!("I couldn't find “{phrase}” on the menus."),
        Language::Zh => format!("菜单上没有找到“{phrase}”。"),
    }
}

pub(crate) fn did_you_mean(lang: Language) -> String {
    match lang {
        Language::En => "Did you mean one of these? Say the number.".into(),
        Language::Zh => "是不是下面这些？请回复序号。".into(),
    }
}

pub(crate) fn found(lang: Language) -> String {
    match lang {
        Language::En => "Here is what I found; say the number to add one.".into(),
        Language::Zh => "为您找到这些，回复序号即可加入购物车。".into(),
    }
}

pub(crate) fn nothing_found(lang: Language) -> String {
    match lang {
        Language::En => "Tell me what you'd like, for example “pearl milk tea” or “a large latte”.".into(),
        Language::Zh => "告诉我想要什么吧，比如“珍珠奶茶”或“大杯拿铁”。".into(),
    }
}

/// A choice label: `Pearl Milk Tea · ¥15.00` or, across shops, `Pearl Milk Tea · Lantern Tea · ¥15.00`.
pub(crate) fn choice(lang: Language, name: &str, shop: Option<&str>, price: Money) -> String {
    match shop {
        Some(shop) => format!("{name} · {shop} · {}", money(lang, price)),
        None => format!("{name} · {}", money(lang, price)),
    }
}

/// The labels of numbered items to choose from: each with its shop when they come from several.
/// A shop's half in the shopper's language can be the same for several shops (the outlets of one
/// chain: `茶颜 Tea House #3` and `#6` are both `茶颜`); then the shops are named whole, or the
/// shopper could not tell the choices apart.
pub(crate) fn choice_labels(
    lang: Language,
    shown: &[(lantern_nlu::ItemRef, crate::ItemInfo)],
) -> Vec<String> {
    let first = shown.first().map(|(item, _)| item.merchant);
    let several_shops = shown.iter().any(|(item, _)| Some(item.merchant) != first);
    let shop_names: Vec<String> =
        shown.iter().map(|(_, info)| local_name(lang, &info.merchant_name)).collect();
    let names_collide = shown.iter().zip(&shop_names).any(|((item, info), name)| {
        shown.iter().zip(&shop_names).any(|((other, other_info), other_name)| {
            other.merchant != item.merchant
                && other_name == name
                && other_info.merchant_name != info.merchant_name
        })
    });
    shown
        .iter()
        .zip(&shop_names)
        .map(|((_, info), local)| {
            let shop = several_shops.then(|| if names_collide { info.merchant_name.as_str() } else { local });
            choice(lang, &local_name(lang, &info.name), shop, info.price)
        })
        .collect()
}

pub(crate) fn switch_question(lang: Language, cart_shop: &str, new_shop: &str) -> String {
    match lang {
        Language::En => format!(
            "Your cart has items from {cart_shop}; one order comes from one shop. Start a new cart at {new_shop}?"
        ),
        Language::Zh => {
            format!("购物车里是{cart_shop}的商品，一单只能在一家店下。要清空并改在{new_shop}点吗？")
        }
    }
}

pub(crate) fn switch_choices(lang: Language, cart_shop: &str, new_shop: &str) -> Vec<String> {
    match lang {
        Language::En => {
            vec![format!("Yes, switch to {new_shop}"), format!("No, keep my cart at {cart_shop}")]
        }
        Language::Zh => vec![format!("是，换到{new_shop}"), format!("不，保留{cart_shop}的购物车")],
    }
}

pub(crate) fn kept_cart(lang: Language, shop: &str) -> String {
    match lang {
        Language::En => format!("OK, your cart stays at {shop}."),
        Language::Zh => format!("好的，购物车仍在{shop}。"),
    }
}

pub(crate) fn option_unknown(lang: Language, item: &str, option: &str) -> String {
    match lang {
        Language::En => format!("{item} has no “{option}” option, so I left it out."),
        Language::Zh => format!("{item}没有“{option}”这个选项，已忽略。"),
    }
}

pub(crate) fn note_unsupported(lang: Language, note: &str) -> String {
    match lang {
        Language::En => format!("I can't pass “{note}” on to the shop."),
        Language::Zh => format!("“{note}”这个要求没法转告店家。"),
    }
}

pub(crate) fn quantity_capped(lang: Language, max: u32) -> String {
    match lang {
        Language::En => format!("One line holds at most {max}, so I put {max}."),
        Language::Zh => format!("每样最多{max}份，已按{max}份加入。"),
    }
}

pub(crate) fn too_many_lines(lang: Language) -> String {
    match lang {
        Language::En => "That was a long list; I took the first items only. Check your cart.".into(),
        Language::Zh => "清单太长，只加入了前面的部分，请看一下购物车。".into(),
    }
}

pub(crate) fn size_not_offered(lang: Language, item: &str, phrase: &str, sizes: &[String]) -> String {
    match (lang, sizes.is_empty()) {
        (Language::En, true) => format!("{item} doesn't come in “{phrase}”; I used the usual size."),
        (Language::En, false) => format!(
            "{item} doesn't come in “{phrase}”; it comes in {}. I used the usual size; say which one you'd like.",
            list(lang, sizes)
        ),
        (Language::Zh, true) => format!("{item}没有“{phrase}”这个杯型，已按默认杯型加入。"),
        (Language::Zh, false) => {
            format!(
                "{item}没有“{phrase}”这个杯型，可选{}。已按默认杯型加入，想换请告诉我。",
                list(lang, sizes)
            )
        }
    }
}

pub(crate) fn removed(lang: Language, names: &[String]) -> String {
    match lang {
        Language::En => format!("Removed {}.", list(lang, names)),
        Language::Zh => format!("已删除{}。", list(lang, names)),
    }
}

pub(crate) fn not_in_cart(lang: Language) -> String {
    match lang {
        Language::En => "That isn't in your cart.".into(),
        Language::Zh => "购物车里没有这个。".into(),
    }
}

pub(crate) fn which_to_remove(lang: Language) -> String {
    match lang {
        Language::En => "Which one should I take off? Say the number.".into(),
        Language::Zh => "要删掉哪一个？请回复序号。".into(),
    }
}

pub(crate) fn coupons(lang: Language, coupons: &[CouponInfo]) -> String {
    let entries: Vec<String> = coupons
        .iter()
        .map(|coupon| {
            let status = coupon_status(lang, &coupon.status);
            match lang {
                Language::En => format!("{}: {} ({status})", coupon.campaign_name, coupon.describe),
                Language::Zh => format!("{}：{}（{status}）", coupon.campaign_name, coupon.describe),
            }
        })
        .collect();
    match lang {
        Language::En => {
            format!("Your coupons: {}. They apply at checkout when they fit.", entries.join("; "))
        }
        Language::Zh => format!("您的优惠券：{}。结账时符合条件会自动使用。", entries.join("；")),
    }
}

fn coupon_status(lang: Language, status: &str) -> String {
    let zh = match status {
        "claimed" => "可用",
        "held" => "已锁定在报价中",
        "redeemed" => "已使用",
        "expired" => "已过期",
        other => other,
    };
    match lang {
        Language::En => match status {
            "claimed" => "ready to use".into(),
            "held" => "held by your quote".into(),
            other => other.to_string(),
        },
        Language::Zh => zh.to_string(),
    }
}

pub(crate) fn no_coupons_offer(lang: Language, campaign: &str) -> String {
    match lang {
        Language::En => {
            format!(
                "You have no coupons yet. The “{campaign}” campaign is open: say “use coupon” to claim one."
            )
        }
        Language::Zh => format!("您还没有优惠券。“{campaign}”活动正在进行，说“用优惠券”即可领取。"),
    }
}

pub(crate) fn no_coupons(lang: Language) -> String {
    match lang {
        Language::En => "You have no coupons, and no campaign is open right now.".into(),
        Language::Zh => "您没有优惠券，目前也没有进行中的活动。".into(),
    }
}

pub(crate) fn claimed(lang: Language, coupon: &CouponInfo) -> String {
    match lang {
        Language::En => format!(
            "Done: you have a “{}” coupon ({}). It applies at checkout when it fits.",
            coupon.campaign_name, coupon.describe
        ),
        Language::Zh => {
            format!(
                "领取成功：“{}”优惠券（{}），结账时符合条件会自动使用。",
                coupon.campaign_name, coupon.describe
            )
        }
    }
}

pub(crate) fn which_campaign(lang: Language) -> String {
    match lang {
        Language::En => "Which campaign's coupon would you like? Say its name.".into(),
        Language::Zh => "想领哪个活动的优惠券？请说活动名称。".into(),
    }
}

pub(crate) fn no_such_campaign(lang: Language, code: &str) -> String {
    match lang {
        Language::En => format!("I don't know a coupon “{code}”."),
        Language::Zh => format!("没有找到“{code}”这个优惠券。"),
    }
}

pub(crate) fn address_set(lang: Language, address: &str) -> String {
    match lang {
        Language::En => format!("I'll deliver to {address}."),
        Language::Zh => format!("好的，送到{address}。"),
    }
}

pub(crate) fn ask_address(lang: Language) -> String {
    match lang {
        Language::En => "What's the delivery address?".into(),
        Language::Zh => "请告诉我送货地址。".into(),
    }
}

/// The quote: its lines, then subtotal, coupon and total, all from the engine.
pub(crate) fn quote(lang: Language, quote: &QuoteInfo) -> String {
    let lines: Vec<String> = quote
        .lines
        .iter()
        .map(|quoted| {
            let options: Vec<String> = quoted.options.iter().map(|option| local_name(lang, option)).collect();
            let described = line(lang, u32::from(quoted.quantity), &local_name(lang, &quoted.name), &options);
            match lang {
                Language::En => format!("{described} {}", money(lang, quoted.line_total)),
                Language::Zh => format!("{described}，{}", money(lang, quoted.line_total)),
            }
        })
        .collect();
    let shop = local_name(lang, &quote.merchant_name);
    let (subtotal, discount, total) =
        (money(lang, quote.subtotal), money(lang, quote.discount), money(lang, quote.total));
    match (lang, &quote.coupon_campaign) {
        (Language::En, Some(campaign)) => format!(
            "Your order at {shop}: {}. Subtotal {subtotal}, “{campaign}” coupon −{discount}, total {total}.",
            lines.join("; ")
        ),
        (Language::En, None) => format!("Your order at {shop}: {}. Total {total}.", lines.join("; ")),
        (Language::Zh, Some(campaign)) => format!(
            "您在{shop}的订单：{}。小计{subtotal}，“{campaign}”优惠券减{discount}，合计{total}。",
            lines.join("；")
        ),
        (Language::Zh, None) => format!("您在{shop}的订单：{}。合计{total}。", lines.join("；")),
    }
}

/// A coupon below its minimum spend, with the amounts: "your 25-yuan coupon needs a 30-yuan
/// order; add ¥4.00 more".
pub(crate) fn coupon_needs_more(
    lang: Language,
    campaign: &str,
    face_value: Money,
    min_spend: Money,
    missing: Money,
) -> String {
    let (face, min) = (yuan_figure(face_value), yuan_figure(min_spend));
    match lang {
        Language::En => format!(
            "Your {face}-yuan “{campaign}” coupon needs a {min}-yuan order; add {} more to use it.",
            money(lang, missing)
        ),
        Language::Zh => {
            format!("您的{face}元“{campaign}”券需满{min}元才能用，还差{}。", money(lang, missing))
        }
    }
}

/// Why a coupon was not used, from the engine's reason code (lantern-core's `ReasonCode`).
pub(crate) fn coupon_reason(lang: Language, campaign: &str, code: &str) -> String {
    match (lang, code) {
        (Language::En, "discount_code_minimum_not_met") => {
            format!("Your “{campaign}” coupon needs a bigger order to apply.")
        }
        (Language::Zh, "discount_code_minimum_not_met") => format!("“{campaign}”优惠券未达到使用门槛。"),
        (Language::En, "discount_code_expired") => format!("Your “{campaign}” coupon has expired."),
        (Language::Zh, "discount_code_expired") => format!("“{campaign}”优惠券已过期。"),
        (Language::En, "discount_code_user_ineligible") => {
            format!("Your “{campaign}” coupon can't be used at this shop or on these items.")
        }
        (Language::Zh, "discount_code_user_ineligible") => {
            format!("“{campaign}”优惠券不适用于这家店或这些商品。")
        }
        (Language::En, "discount_code_usage_limit_reached") => {
            format!("Your “{campaign}” coupon is already in use or used up.")
        }
        (Language::Zh, "discount_code_usage_limit_reached") => {
            format!("“{campaign}”优惠券已用完或正在使用。")
        }
        (Language::En, "discount_code_invalid") => format!("You have no “{campaign}” coupon to use."),
        (Language::Zh, "discount_code_invalid") => format!("您没有可用的“{campaign}”优惠券。"),
        (_, other) => refusal_reason(lang, other).unwrap_or_else(|| match lang {
            Language::En => format!("Your “{campaign}” coupon doesn't apply here ({other})."),
            Language::Zh => format!("“{campaign}”优惠券这次用不了（{other}）。"),
        }),
    }
}

/// A plain sentence for a refusal code the shopper can understand, or `None` for codes that
/// only the refusal's own message explains.
pub(crate) fn refusal_reason(lang: Language, code: &str) -> Option<String> {
    let (en, zh) = match code {
        "campaign_paused" => {
            ("The coupon campaign is paused for now; try again later.", "优惠活动暂停中，请稍后再试。")
        }
        "budget_exhausted" => ("The campaign's coupons have all been given out.", "活动优惠券已经发完了。"),
        "campaign_ended" => ("The coupon campaign has ended.", "优惠活动已经结束。"),
        "campaign_not_started" => ("The coupon campaign hasn't started yet.", "优惠活动还没开始。"),
        "rate_limited" => (
            "Coupons are being handed out at a set pace; try again in a moment.",
            "优惠券正在按节奏发放，请稍后再试。",
        ),
        "discount_code_usage_limit_reached" => {
            ("You have already claimed all the coupons you can.", "您已领满可领取的优惠券。")
        }
        "merchant_paused" => ("The shop isn't taking orders right now.", "这家店暂停接单。"),
        "out_of_stock" => ("Something in your cart isn't on the menu any more.", "购物车里有商品已下架。"),
        "quantity_exceeded" | "maximum_exceeded" => {
            ("That's more than one order can hold.", "超出了单笔订单的上限。")
        }
        "not_found" => ("I couldn't find that.", "没有找到。"),
        _ => return None,
    };
    Some(match lang {
        Language::En => en.to_string(),
        Language::Zh => zh.to_string(),
    })
}

pub(crate) fn shop_busy_note(lang: Language, shop: &str, eta_ms: u64) -> String {
    match lang {
        Language::En => format!("{shop} is busy right now: about {}.", duration(lang, eta_ms)),
        Language::Zh => format!("{shop}现在比较忙，大约要{}。", duration(lang, eta_ms)),
    }
}

pub(crate) fn confirm(lang: Language, total: Money, shop: &str, address: Option<&str>) -> String {
    let total = money(lang, total);
    match (lang, address) {
        (Language::En, None) => format!("Confirm this order of {total} at {shop}?"),
        (Language::En, Some(address)) => {
            format!("Confirm this order of {total} at {shop}, delivered to {address}?")
        }
        (Language::Zh, None) => format!("确认在{shop}下单，共{total}吗？"),
        (Language::Zh, Some(address)) => format!("确认在{shop}下单，共{total}，送到{address}吗？"),
    }
}

pub(crate) fn placed(lang: Language, order: &OrderInfo) -> String {
    let shop = local_name(lang, &order.merchant_name);
    let (total, eta) = (money(lang, order.total), duration(lang, order.eta_ms));
    match lang {
        Language::En => format!("Order {} is placed at {shop}: {total}, ready in about {eta}.", order.order),
        Language::Zh => format!("下单成功！{shop}订单{}，实付{total}，大约{eta}做好。", order.order),
    }
}

pub(crate) fn queued(lang: Language, waiting: &Waiting, keeping_order: bool) -> String {
    let (position, eta) = (count(waiting.position), duration(lang, waiting.eta_ms));
    match (lang, keeping_order) {
        (Language::En, true) => format!(
            "You are number {position} in line, about {eta}. I'll keep your order; say “yes” again when I tell you."
        ),
        (Language::En, false) => {
            format!("You are number {position} in line, about {eta}. Please ask again then.")
        }
        (Language::Zh, true) => {
            format!("您前面还有{position}人，大约{eta}。订单已为您保留，轮到您时再说“确认”即可。")
        }
        (Language::Zh, false) => format!("您前面还有{position}人，大约{eta}，到时再试一次。"),
    }
}

/// How far a shop is: metres under a kilometre, else kilometres to one decimal.
pub(crate) fn distance(lang: Language, metres: u32) -> String {
    let figure = if metres < 1_000 {
        metres.to_string()
    } else {
        format!("{}.{}", metres / 1_000, (metres % 1_000) / 100)
    };
    match (lang, metres < 1_000) {
        (Language::En, true) => format!("{figure} m away"),
        (Language::En, false) => format!("{figure} km away"),
        (Language::Zh, true) => format!("{figure}米"),
        (Language::Zh, false) => format!("{figure}公里"),
    }
}

pub(crate) fn busy(lang: Language, shop: &str, eta_ms: u64, alternatives: &[Alternative]) -> String {
    let eta = duration(lang, eta_ms);
    let faster: Vec<String> = alternatives
        .iter()
        .map(|alternative| {
            let name = local_name(lang, &alternative.name);
            let eta = duration(lang, alternative.eta_ms);
            match (lang, alternative.distance_m) {
                (Language::En, None) => format!("{name} ({eta})"),
                (Language::En, Some(metres)) => format!("{name} ({eta}, {})", distance(lang, metres)),
                (Language::Zh, None) => format!("{name}（{eta}）"),
                (Language::Zh, Some(metres)) => format!("{name}（{eta}，{}）", distance(lang, metres)),
            }
        })
        .collect();
    match (lang, faster.is_empty()) {
        (Language::En, true) => format!("{shop} is busy, about {eta}. Try again in a little while."),
        (Language::En, false) => {
            format!("{shop} is busy, about {eta}; these can make it sooner: {}.", faster.join(", "))
        }
        (Language::Zh, true) => format!("{shop}现在很忙，大约要{eta}，请稍后再试。"),
        (Language::Zh, false) => {
            format!("{shop}现在很忙，大约要{eta}；这些店可以更快：{}。", faster.join("、"))
        }
    }
}

pub(crate) fn paused_shop(lang: Language, shop: &str, alternatives: &[Alternative]) -> String {
    let others: Vec<String> =
        alternatives.iter().map(|alternative| local_name(lang, &alternative.name)).collect();
    match (lang, others.is_empty()) {
        (Language::En, true) => format!("{shop} isn't taking orders right now."),
        (Language::En, false) => {
            format!("{shop} isn't taking orders right now; these are open: {}.", others.join(", "))
        }
        (Language::Zh, true) => format!("{shop}暂停接单。"),
        (Language::Zh, false) => format!("{shop}暂停接单；这些店在营业：{}。", others.join("、")),
    }
}

pub(crate) fn pick_alternative(lang: Language) -> String {
    match lang {
        Language::En => "Say the number to order there instead, or “yes” to try this shop again.".into(),
        Language::Zh => "回复序号改在那家店下单，或说“确认”再试这家。".into(),
    }
}

pub(crate) fn moved_to(lang: Language, shop: &str) -> String {
    match lang {
        Language::En => format!("OK, I moved your cart to {shop}."),
        Language::Zh => format!("好的，已把购物车换到{shop}。"),
    }
}

/// Why the quote the shopper said yes to could not be placed, by the ledger's code, before the
/// fresh quote.
pub(crate) fn quote_renewed(lang: Language, code: &str) -> String {
    let (en, zh) = match code {
        "discount_code_expired" => (
            "The coupon on that quote has expired, so here is a fresh one.",
            "之前报价里的优惠券已过期，这是新的报价。",
        ),
        // `expired` is said both of a quote past its hold and of one a newer quote or order of
        // the same shopper superseded (taking its coupon); `invalid_transition`, `not_found`:
        // no longer open.
        _ => (
            "That quote is no longer valid: it expired, or a newer quote or order of yours took its place. Here is a fresh one.",
            "之前的报价已失效：已过期，或被你的另一笔报价或订单取代。这是新的报价。",
        ),
    };
    match lang {
        Language::En => en.into(),
        Language::Zh => zh.into(),
    }
}

/// A fresh quote that costs `more` than the one the shopper said yes to, and whether it is
/// because the coupon no longer applies.
pub(crate) fn costs_more(lang: Language, more: Money, coupon_lost: bool) -> String {
    let amount = money(lang, more);
    match (lang, coupon_lost) {
        (Language::En, true) => {
            format!("It costs {amount} more than before: the coupon no longer applies to it.")
        }
        (Language::En, false) => format!("It costs {amount} more than before."),
        (Language::Zh, true) => format!("比之前多{amount}：优惠券已不能用在这一单上。"),
        (Language::Zh, false) => format!("比之前多{amount}。"),
    }
}

pub(crate) fn declined(lang: Language) -> String {
    match lang {
        Language::En => "OK, I won't place it. Your cart is kept; say “checkout” when you're ready.".into(),
        Language::Zh => "好的，先不下单。购物车还在，想下单时说“结账”。".into(),
    }
}

pub(crate) fn ok(lang: Language) -> String {
    match lang {
        Language::En => "OK. What else can I get you?".into(),
        Language::Zh => "好的。还需要点什么？".into(),
    }
}

pub(crate) fn status_word(lang: Language, status: &str) -> String {
    let (en, zh) = match status {
        "placed" => ("placed, waiting for the shop", "已下单，等待商家接单"),
        "accepted" => ("accepted, being made", "商家已接单，正在制作"),
        "ready" => ("ready, waiting for a rider", "已做好，等待骑手取餐"),
        "dispatched" | "delivering" => ("on its way", "配送中"),
        "delivered" => ("delivered", "已送达"),
        "rejected" => ("rejected by the shop", "商家已拒单"),
        "canceled" | "cancelled" => ("cancelled", "已取消"),
        other => (other, other),
    };
    match lang {
        Language::En => en.to_string(),
        Language::Zh => zh.to_string(),
    }
}

pub(crate) fn order_status(lang: Language, order: &OrderInfo) -> String {
    let shop = local_name(lang, &order.merchant_name);
    let status = status_word(lang, &order.status);
    let open = matches!(order.status.as_str(), "placed" | "accepted" | "ready" | "dispatched" | "delivering");
    match (lang, open) {
        (Language::En, true) => format!(
            "Order {} at {shop} ({}): {status}, about {}.",
            order.order,
            money(lang, order.total),
            duration(lang, order.eta_ms)
        ),
        (Language::En, false) => {
            format!("Order {} at {shop} ({}): {status}.", order.order, money(lang, order.total))
        }
        (Language::Zh, true) => format!(
            "{shop}订单{}（{}）：{status}，大约{}。",
            order.order,
            money(lang, order.total),
            duration(lang, order.eta_ms)
        ),
        (Language::Zh, false) => {
            format!("{shop}订单{}（{}）：{status}。", order.order, money(lang, order.total))
        }
    }
}

pub(crate) fn no_orders(lang: Language) -> String {
    match lang {
        Language::En => "You have no orders yet.".into(),
        Language::Zh => "您还没有订单。".into(),
    }
}

pub(crate) fn no_such_order(lang: Language) -> String {
    match lang {
        Language::En => "I couldn't find that order among yours.".into(),
        Language::Zh => "没有找到这个订单。".into(),
    }
}

pub(crate) fn canceled(lang: Language, order: &OrderInfo) -> String {
    let coupon_back = order.discount.fen() > 0;
    match (lang, coupon_back) {
        (Language::En, true) => {
            format!("Order {} is cancelled; your coupon is back in your wallet.", order.order)
        }
        (Language::En, false) => format!("Order {} is cancelled.", order.order),
        (Language::Zh, true) => format!("订单{}已取消，优惠券已退回。", order.order),
        (Language::Zh, false) => format!("订单{}已取消。", order.order),
    }
}

pub(crate) fn cannot_cancel(lang: Language, order: &OrderInfo) -> String {
    let status = status_word(lang, &order.status);
    match lang {
        Language::En => format!("Order {} can't be cancelled any more: it is {status}.", order.order),
        Language::Zh => format!("订单{}已无法取消：{status}。", order.order),
    }
}

pub(crate) fn confirm_cancel(lang: Language, order: &OrderInfo) -> String {
    let shop = local_name(lang, &order.merchant_name);
    match lang {
        Language::En => format!("Cancel order {} at {shop} ({})?", order.order, money(lang, order.total)),
        Language::Zh => format!("要取消{shop}的订单{}（{}）吗？", order.order, money(lang, order.total)),
    }
}

pub(crate) fn order_kept(lang: Language) -> String {
    match lang {
        Language::En => "OK, your order stays as it is.".into(),
        Language::Zh => "好的，订单保持不变。".into(),
    }
}

pub(crate) fn yes_no(lang: Language) -> Vec<String> {
    match lang {
        Language::En => vec!["Yes".into(), "No".into()],
        Language::Zh => vec!["是".into(), "否".into()],
    }
}

pub(crate) fn help(lang: Language) -> String {
    match lang {
        Language::En => {
            "You can say things like: “two large pearl milk teas, less sugar”, “remove the latte”, \
                         “show my cart”, “use coupon”, “checkout”, “where is my order” or “cancel my order”. \
                         I always show you the total and wait for your “yes” before ordering."
                .into()
        }
        Language::Zh => "您可以这样说：“两杯大杯珍珠奶茶，少糖”、“不要拿铁了”、“看看购物车”、“用优惠券”、\
                         “结账”、“我的订单到哪了”、“取消订单”。下单前我都会先给您看总价，等您确认。"
            .into(),
    }
}

pub(crate) fn greeting(lang: Language) -> String {
    match lang {
        Language::En => "Hi! What can I get you today?".into(),
        Language::Zh => "您好！今天想喝点什么？".into(),
    }
}

pub(crate) fn thanks(lang: Language) -> String {
    match lang {
        Language::En => "You're welcome!".into(),
        Language::Zh => "不客气！".into(),
    }
}

pub(crate) fn goodbye(lang: Language) -> String {
    match lang {
        Language::En => "Bye! Enjoy your drink.".into(),
        Language::Zh => "再见，祝您用餐愉快！".into(),
    }
}

pub(crate) fn out_of_scope(lang: Language) -> String {
    match lang {
        Language::En => {
            "I can help you order food and drinks, use coupons and track your orders. What would you like?"
                .into()
        }
        Language::Zh => "我可以帮您点餐点饮品、用优惠券、查订单。想点些什么？".into(),
    }
}

pub(crate) fn what_would_you_like(lang: Language) -> String {
    match lang {
        Language::En => "What would you like to order?".into(),
        Language::Zh => "想点些什么？".into(),
    }
}

/// The short question added when the planner could not help and the fast path answered.
pub(crate) fn clarify(lang: Language) -> String {
    match lang {
        Language::En => {
            "Could you tell me which item you'd like, for example “pearl milk tea” or “a large latte”?".into()
        }
        Language::Zh => "能告诉我具体想要哪一款吗？比如“珍珠奶茶”或“大杯拿铁”。".into(),
    }
}

pub(crate) fn something_wrong(lang: Language, message: &str) -> String {
    match lang {
        Language::En => format!("Sorry, that didn't work: {message}"),
        Language::Zh => format!("抱歉，没有成功：{message}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn money_counts_and_durations_are_formatted_for_each_language() {
        assert_eq!(money(Language::En, Money::from_fen(1800)), "¥18.00");
        assert_eq!(money(Language::Zh, Money::from_fen(1800)), "18.00元");
        assert_eq!(money(Language::En, Money::from_fen(123_456_705)), "¥1,234,567.05");
        assert_eq!(count(1_204), "1,204");
        assert_eq!(count(999), "999");
        assert_eq!(count(1_000_000), "1,000,000");
        assert_eq!(duration(Language::En, 40_000), "40 s");
        assert_eq!(duration(Language::En, 39_001), "40 s");
        assert_eq!(duration(Language::Zh, 40_000), "40秒");
        assert_eq!(duration(Language::En, 25 * 60_000), "25 min");
        assert_eq!(duration(Language::Zh, 24 * 60_000 + 1), "25分钟");
        assert_eq!(yuan_figure(Money::from_fen(2500)), "25");
        assert_eq!(yuan_figure(Money::from_fen(2550)), "25.50");
    }

    #[test]
    fn a_busy_shop_names_the_faster_ones_and_how_far_they_are_when_known() {
        let alternative = |merchant: u64, name: &str, distance_m: Option<u32>| Alternative {
            merchant: lantern_core::MerchantId::new(merchant),
            name: name.into(),
            eta_ms: 2_000,
            distance_m,
        };
        assert_eq!(distance(Language::En, 556), "556 m away");
        assert_eq!(distance(Language::En, 2_480), "2.4 km away");
        assert_eq!(distance(Language::Zh, 1_000), "1.0公里");
        let near = [alternative(2, "Tea House #2", Some(556)), alternative(3, "Tea House #3", None)];
        assert_eq!(
            busy(Language::En, "Tea House #1", 120_000, &near),
            "Tea House #1 is busy, about 2 min; these can make it sooner: Tea House #2 (2 s, 556 m away), Tea House #3 (2 s)."
        );
        assert_eq!(
            busy(Language::Zh, "茶颜一店", 120_000, &near[..1]),
            "茶颜一店现在很忙，大约要2分钟；这些店可以更快：Tea House #2（2秒，556米）。"
        );
    }

    #[test]
    fn choices_from_outlets_of_one_chain_name_the_outlets_whole() {
        let info = |merchant: u64, merchant_name: &str| {
            let item = lantern_nlu::ItemRef {
                merchant: lantern_core::MerchantId::new(merchant),
                item: lantern_core::ItemId::new(101),
            };
            let name = "珍珠奶茶 Pearl Milk Tea".to_string();
            let price = Money::from_fen(1500);
            (
                item,
                crate::ItemInfo {
                    item,
                    name,
                    merchant_name: merchant_name.into(),
                    price,
                    options: Vec::new(),
                },
            )
        };
        let chain = [info(3, "茶颜 Tea House #3"), info(6, "茶颜 Tea House #6")];
        assert_eq!(
            choice_labels(Language::Zh, &chain),
            ["珍珠奶茶 · 茶颜 Tea House #3 · 15.00元", "珍珠奶茶 · 茶颜 Tea House #6 · 15.00元"]
        );
        assert_eq!(
            choice_labels(Language::En, &chain),
            ["Pearl Milk Tea · Tea House #3 · ¥15.00", "Pearl Milk Tea · Tea House #6 · ¥15.00"]
        );
        let two_shops = [info(1, "灯笼茶饮 Lantern Tea"), info(2, "星光咖啡 Starlight Coffee")];
        assert_eq!(
            choice_labels(Language::Zh, &two_shops),
            ["珍珠奶茶 · 灯笼茶饮 · 15.00元", "珍珠奶茶 · 星光咖啡 · 15.00元"]
        );
        assert_eq!(
            choice_labels(Language::Zh, &two_shops[..1]),
            ["珍珠奶茶 · 15.00元"],
            "one shop: not named"
        );
    }

    #[test]
    fn bilingual_names_show_the_shoppers_half() {
        assert_eq!(local_name(Language::En, "珍珠奶茶 Pearl Milk Tea"), "Pearl Milk Tea");
        assert_eq!(local_name(Language::Zh, "珍珠奶茶 Pearl Milk Tea"), "珍珠奶茶");
        assert_eq!(local_name(Language::Zh, "Latte"), "Latte");
        assert_eq!(local_name(Language::En, "拿铁"), "拿铁");
        // Latin first, or scripts mixed: shown whole.
        assert_eq!(local_name(Language::En, "Latte 拿铁"), "Latte 拿铁");
        assert_eq!(local_name(Language::En, "灯笼茶饮 Lantern Tea (West Gate)"), "Lantern Tea (West Gate)");
    }

    #[test]
    fn lists_read_naturally() {
        let items = ["A".to_string(), "B".to_string(), "C".to_string()];
        assert_eq!(list(Language::En, &items), "A, B and C");
        assert_eq!(list(Language::Zh, &items), "A、B和C");
        assert_eq!(list(Language::En, &items[..1]), "A");
    }
}

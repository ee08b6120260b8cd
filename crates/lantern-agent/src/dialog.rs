//! The fast path: one message's [`Understanding`] turned into shop operations, events and a
//! short answer, with no model. The planner's tools call the same handlers, so both paths
//! obey the same rules (one shop per cart, a changed cart drops its quote, placing needs a yes).

use lantern_core::{MerchantId, Money, OrderId, QuoteId, ShopperId};
use lantern_ledger::CouponChoice;
use lantern_nlu::{
    Ambiguity, Awaiting, CartLine, Context, Intent, ItemRef, Language, OptionRemoval, OrderRef,
    Understanding, normalise, understand,
};

use crate::event::{AgentEvent, CartLineView};
use crate::session::{PendingQuote, Question, Session, merge_line, pricing_lines, stored_line};
use crate::shop::{Alternative, OrderInfo, QuoteInfo, QuoteRequest, Refusal, Shop};
use crate::text::{self, local_name};
use crate::{Agent, config};

/// One turn in progress: the session it changes, the sentences of its answer so far, where its
/// events go and, for a planner turn, the quote cancellations it must defer.
pub(crate) struct Turn<'a> {
    pub(crate) session: &'a mut Session,
    pub(crate) shopper: ShopperId,
    pub(crate) lang: Language,
    said: Vec<String>,
    sink: &'a mut (dyn FnMut(AgentEvent) + Send),
    /// `Some` while the planner works on a copy of the session: nothing it does may be lost or
    /// undone wrongly if its answer is thrown away (see `planner.rs`).
    pub(crate) deferred: Option<Deferred>,
    pub(crate) placed: Option<OrderId>,
}

/// Quote cancellations a planner turn holds back until its answer is kept.
#[derive(Debug, Default)]
pub(crate) struct Deferred {
    /// Quotes the turn dropped: cancelled only when the turn's session is kept.
    pub(crate) cancel_on_commit: Vec<QuoteId>,
    /// Quotes the turn created: cancelled if its session is thrown away.
    pub(crate) created: Vec<QuoteId>,
}

impl<'a> Turn<'a> {
    pub(crate) fn new(
        session: &'a mut Session,
        shopper: ShopperId,
        lang: Language,
        sink: &'a mut (dyn FnMut(AgentEvent) + Send),
        deferred: Option<Deferred>,
    ) -> Turn<'a> {
        Turn { session, shopper, lang, said: Vec::new(), sink, deferred, placed: None }
    }

    pub(crate) fn say(&mut self, sentence: String) {
        if !sentence.is_empty() {
            self.said.push(sentence);
        }
    }

    pub(crate) fn emit(&mut self, event: AgentEvent) {
        (self.sink)(event);
    }

    pub(crate) fn said_len(&self) -> usize {
        self.said.len()
    }

    pub(crate) fn said_since(&self, start: usize) -> String {
        text::join(self.lang, self.said.get(start..).unwrap_or_default())
    }

    /// The whole answer so far, in one text.
    pub(crate) fn answer(&self) -> String {
        text::join(self.lang, &self.said)
    }
}

/// What a refusal leaves for its caller to do.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Followup {
    Nothing,
    /// The quote is gone (expired, replaced, cancelled): show a fresh one for confirmation.
    Requote,
}

/// Which operation was refused; the same code means different things after each.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Stage {
    Quote,
    Place,
    Claim,
    CancelOrder,
}

/// What adding lines came to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Added {
    Nothing,
    Lines,
    /// Lines from another shop: the shopper was asked whether to switch.
    AskedToSwitch,
}

impl<S: Shop> Agent<S> {
    /// Answers one understood message without a model.
    pub(crate) async fn fast_path(&self, t: &mut Turn<'_>, u: &Understanding, utterance: &str) {
        // What the last answer asked is consumed by this message; handlers that ask again set it.
        let question = t.session.question.take();
        let awaiting = t.session.awaiting.take();
        let lang = t.lang;
        match u.intent {
            Intent::Order => self.on_order(t, u, utterance, question).await,
            Intent::Remove => self.on_remove(t, u, question).await,
            Intent::ShowCart => self.on_show_cart(t),
            Intent::ListCoupons => self.on_list_coupons(t),
            Intent::UseCoupon => self.on_use_coupon(t, u).await,
            Intent::Checkout => self.checkout(t).await,
            Intent::Confirm | Intent::Yes => self.on_yes(t, question, awaiting).await,
            Intent::No => self.on_no(t, question, awaiting).await,
            Intent::CancelOrder => self.on_cancel_order(t, u, awaiting).await,
            Intent::OrderStatus => self.on_order_status(t, u),
            Intent::SetAddress => self.on_set_address(t, u),
            Intent::Browse => self.on_browse(t, u, utterance),
            Intent::Help => t.say(text::help(lang)),
            Intent::Greeting => t.say(text::greeting(lang)),
            Intent::Thanks => t.say(text::thanks(lang)),
            Intent::Goodbye => t.say(text::goodbye(lang)),
            Intent::OutOfScope => match u.mentions.first() {
                // Out of scope, but it names something to eat or drink: look for it.
                Some(mention) => self.offer_search(t, utterance, &mention.text),
                None => t.say(text::out_of_scope(lang)),
            },
        }
    }

    // -----------------------------------------------------------------------------------------
    // Names and views.

    /// Whether every candidate is the same item (same name and price) at different shops.
    fn same_dish(&self, candidates: &[ItemRef]) -> bool {
        let mut seen =
            candidates.iter().map(|candidate| self.shop.item(*candidate).map(|item| (item.name, item.price)));
        match seen.next() {
            Some(Some(first)) => seen.all(|other| other.as_ref() == Some(&first)),
            _ => false,
        }
    }

    pub(crate) fn item_name(&self, lang: Language, item: ItemRef) -> String {
        self.shop.item(item).map_or_else(|| item.item.to_string(), |info| local_name(lang, &info.name))
    }

    pub(crate) fn shop_name(&self, lang: Language, merchant: MerchantId) -> String {
        self.shop.merchant_name(merchant).map_or_else(|| merchant.to_string(), |name| local_name(lang, &name))
    }

    /// Names of a line's chosen size and options (the engine adds the defaults at quote time).
    pub(crate) fn option_names(&self, lang: Language, line: &CartLine) -> Vec<String> {
        let Some(details) = self.shop.item_details(ItemRef { merchant: line.merchant, item: line.item })
        else {
            return Vec::new();
        };
        line.size
            .iter()
            .chain(&line.options_added)
            .filter_map(|option| details.choices.iter().find(|choice| choice.option == *option))
            .map(|choice| local_name(lang, &choice.name))
            .collect()
    }

    fn line_text(&self, lang: Language, line: &CartLine) -> String {
        let name = self.item_name(lang, ItemRef { merchant: line.merchant, item: line.item });
        text::line(lang, line.quantity, &name, &self.option_names(lang, line))
    }

    pub(crate) fn cart_event(&self, session: &Session) -> AgentEvent {
        let lines = session
            .cart
            .iter()
            .map(|line| {
                let item = ItemRef { merchant: line.merchant, item: line.item };
                let name = self.shop.item(item).map_or_else(|| line.item.to_string(), |info| info.name);
                let options = match self.shop.item_details(item) {
                    Some(details) => line
                        .size
                        .iter()
                        .chain(&line.options_added)
                        .filter_map(|option| details.choices.iter().find(|choice| choice.option == *option))
                        .map(|choice| choice.name.clone())
                        .collect(),
                    None => Vec::new(),
                };
                CartLineView { item, name, quantity: line.quantity, options }
            })
            .collect();
        let merchant_name = session.cart_merchant().and_then(|merchant| self.shop.merchant_name(merchant));
        AgentEvent::Cart { lines, merchant_name }
    }

    /// Says a question with numbered answers, emits them as `Choices`, and remembers what the
    /// numbers point at (for the understanding: `last_items`; for the dialog: `question`).
    fn ask_choice(
        &self,
        t: &mut Turn<'_>,
        question_text: String,
        labels: Vec<String>,
        refs: Vec<ItemRef>,
        question: Question,
    ) {
        let numbered: Vec<String> =
            labels.iter().enumerate().map(|(index, label)| format!("{}) {label}", index + 1)).collect();
        let said = match t.lang {
            Language::En => format!("{question_text} {}", numbered.join("; ")),
            Language::Zh => format!("{question_text}{}", numbered.join("；")),
        };
        t.say(said);
        t.emit(AgentEvent::Choices { question: question_text, choices: labels });
        let shown = refs.len().min(config::CHOICES_MAX);
        t.session.awaiting = u8::try_from(shown).ok().filter(|n| *n > 0).map(Awaiting::Choice);
        t.session.last_items = refs;
        t.session.question = Some(question);
    }

    /// Numbered choices among items.
    fn offer_items(
        &self,
        t: &mut Turn<'_>,
        question_text: String,
        candidates: &[ItemRef],
        question: Question,
    ) -> bool {
        let lang = t.lang;
        let shown: Vec<(ItemRef, crate::ItemInfo)> = candidates
            .iter()
            .filter_map(|candidate| self.shop.item(*candidate).map(|info| (*candidate, info)))
            .take(self.config.results_shown_max)
            .collect();
        if shown.is_empty() {
            return false;
        }
        let labels = text::choice_labels(lang, &shown);
        let refs = shown.iter().map(|(item, _)| *item).collect();
        self.ask_choice(t, question_text, labels, refs, question);
        true
    }

    /// A phrase on no menu: say so, and offer what a search finds. The pick is read back into
    /// `utterance` in the phrase's place, so "2杯奶茶 大杯 少糖" then "1" adds two large
    /// less-sugar cups of the first result, not one plain one.
    fn offer_search(&self, t: &mut Turn<'_>, utterance: &str, phrase: &str) {
        let lang = t.lang;
        t.say(text::not_on_menu(lang, phrase));
        let found = self.shop.search(phrase, None, self.config.results_shown_max);
        if found.is_empty() {
            t.say(text::nothing_found(lang));
            return;
        }
        let refs: Vec<ItemRef> = found.iter().map(|found| found.item).collect();
        t.emit(AgentEvent::Results { items: found });
        let question = Question::PickItem { utterance: utterance.to_string(), phrase: normalise(phrase) };
        self.offer_items(t, text::did_you_mean(lang), &refs, question);
    }

    // -----------------------------------------------------------------------------------------
    // The cart.

    async fn on_order(
        &self,
        t: &mut Turn<'_>,
        u: &Understanding,
        utterance: &str,
        question: Option<Question>,
    ) {
        let lang = t.lang;
        let picked = !u.lines.is_empty() && u.lines.iter().all(|line| line.from_reference);
        let mut lines = u.lines.clone();
        match question {
            Some(Question::PickItem { utterance: original, phrase }) => {
                lines =
                    lines
                        .into_iter()
                        .map(|line| {
                            if line.from_reference {
                                self.reread_pick(&original, &phrase, line)
                            } else {
                                line
                            }
                        })
                        .collect();
            }
            Some(Question::Alternatives(alternatives)) if picked => {
                let merchant = lines.first().map(|line| line.merchant);
                if let Some(alternative) = alternatives.iter().find(|a| Some(a.merchant) == merchant) {
                    self.move_to(t, alternative.merchant).await;
                    return;
                }
            }
            Some(Question::PickRemoval) if picked => {
                self.remove_matching(t, &lines).await;
                return;
            }
            _ => {}
        }

        // One candidate is no choice: the phrase names an item of another shop than the
        // conversation's. Take it (read again at that shop, for its quantity and options); adding
        // it asks whether to switch shops if the cart is elsewhere.
        let mut unsure = Vec::new();
        let mut settled_phrases = Vec::new();
        for ambiguity in &u.unsure {
            match ambiguity {
                // The same dish at several outlets of one chain is no choice either: take the
                // first outlet (a busy one answers with faster outlets at checkout).
                Ambiguity::Item { phrase, candidates }
                    if candidates.len() == 1 || self.same_dish(candidates) =>
                {
                    let only = candidates[0];
                    let reference = CartLine {
                        merchant: only.merchant,
                        item: only.item,
                        quantity: 1,
                        size: None,
                        options_added: Vec::new(),
                        options_removed: Vec::new(),
                        options_unknown: Vec::new(),
                        from_reference: false,
                    };
                    lines.push(self.reread_pick(utterance, phrase, reference));
                    settled_phrases.push(phrase.as_str());
                }
                other => unsure.push(other),
            }
        }
        let added = if lines.is_empty() { Added::Nothing } else { self.add_lines(t, lines).await };
        let mut asked = added == Added::AskedToSwitch;
        for ambiguity in unsure {
            settled_phrases.extend(match ambiguity {
                Ambiguity::Item { phrase, .. } => Some(phrase.as_str()),
                _ => None,
            });
            match ambiguity {
                Ambiguity::Item { phrase, candidates } if !asked => {
                    let question =
                        Question::PickItem { utterance: utterance.to_string(), phrase: phrase.clone() };
                    asked = self.offer_items(t, text::which_one(lang, phrase), candidates, question);
                }
                Ambiguity::Size { item, phrase, choices } => {
                    let sizes: Vec<String> = match self.shop.item_details(*item) {
                        Some(details) => choices
                            .iter()
                            .filter_map(|option| {
                                details.choices.iter().find(|choice| choice.option == *option)
                            })
                            .map(|choice| local_name(lang, &choice.name))
                            .collect(),
                        None => Vec::new(),
                    };
                    t.say(text::size_not_offered(lang, &self.item_name(lang, *item), phrase, &sizes));
                }
                Ambiguity::Quantity { .. } => t.say(text::quantity_capped(lang, lantern_nlu::QUANTITY_MAX)),
                Ambiguity::Merchant { phrase, candidates } if !asked => {
                    let shops: Vec<String> =
                        candidates.iter().map(|merchant| self.shop_name(lang, *merchant)).collect();
                    t.say(text::which_shop(lang, phrase, &shops));
                    t.emit(AgentEvent::Choices {
                        question: text::which_shop(lang, phrase, &shops),
                        choices: shops,
                    });
                    asked = true;
                }
                Ambiguity::Reference { .. } if !asked => {
                    let candidates: Vec<ItemRef> = t
                        .session
                        .cart
                        .iter()
                        .map(|line| ItemRef { merchant: line.merchant, item: line.item })
                        .collect();
                    asked = self.offer_items(t, text::which_item(lang), &candidates, Question::PickResult);
                }
                Ambiguity::TooManyLines => t.say(text::too_many_lines(lang)),
                _ => {}
            }
        }
        let unknown = u
            .mentions
            .iter()
            .find(|mention| !mention.resolved && !settled_phrases.contains(&mention.text.as_str()));
        if !asked && let Some(mention) = unknown {
            self.offer_search(t, utterance, &mention.text);
            asked = true;
        }
        if added == Added::Nothing && !asked && u.unsure.is_empty() {
            t.say(text::what_would_you_like(lang));
        }
    }

    /// The pick of an ambiguous phrase, read again with the message it came from (the phrase
    /// replaced by the picked item's name), so "two large milk teas" keeps its two and large.
    fn reread_pick(&self, original: &str, phrase: &str, picked: CartLine) -> CartLine {
        let Some(info) = self.shop.item(ItemRef { merchant: picked.merchant, item: picked.item }) else {
            return picked;
        };
        let normal = normalise(original);
        if phrase.is_empty() || !normal.contains(phrase) {
            return picked;
        }
        let reread = normal.replacen(phrase, &normalise(&info.name), 1);
        let context = Context { merchant: Some(picked.merchant), ..Context::default() };
        let understood = understand(&self.lexicon.read(), &context, &reread);
        understood
            .lines
            .into_iter()
            .find(|line| line.merchant == picked.merchant && line.item == picked.item)
            .unwrap_or(picked)
    }

    /// Adds lines to the cart (equal lines merged). Lines from another shop than the cart's are
    /// not added: the shopper is asked whether to start a new cart there.
    pub(crate) async fn add_lines(&self, t: &mut Turn<'_>, lines: Vec<CartLine>) -> Added {
        let lang = t.lang;
        let Some(target) = t.session.cart_merchant().or_else(|| lines.first().map(|line| line.merchant))
        else {
            return Added::Nothing;
        };
        let (here, elsewhere): (Vec<CartLine>, Vec<CartLine>) =
            lines.into_iter().partition(|line| line.merchant == target);
        let mut added = Vec::new();
        let mut notes = Vec::new();
        for line in here {
            let name = self.item_name(lang, ItemRef { merchant: line.merchant, item: line.item });
            for unknown in &line.options_unknown {
                notes.push(text::option_unknown(lang, &name, unknown));
            }
            for removal in &line.options_removed {
                if let OptionRemoval::Text(note) = removal {
                    notes.push(text::note_unsupported(lang, note));
                }
            }
            let shown = self.line_text(lang, &stored_line(&line));
            if merge_line(&mut t.session.cart, line, self.config.cart_lines_max).is_err() {
                notes.push(text::cart_full(lang, self.config.cart_lines_max));
                break;
            }
            added.push(shown);
        }
        if !added.is_empty() {
            // The quote priced the old cart; it can no longer be what the shopper confirms.
            self.drop_pending(t, true).await;
            t.session.merchant = Some(target);
            t.say(text::added(lang, &added));
        }
        for note in notes {
            t.say(note);
        }
        if !added.is_empty() {
            t.emit(self.cart_event(t.session));
        }
        if let Some(other) = elsewhere.first().map(|line| line.merchant) {
            let lines: Vec<CartLine> = elsewhere.into_iter().filter(|line| line.merchant == other).collect();
            let (cart_shop, new_shop) = (self.shop_name(lang, target), self.shop_name(lang, other));
            let question = text::switch_question(lang, &cart_shop, &new_shop);
            t.say(question.clone());
            t.emit(AgentEvent::Choices {
                question,
                choices: text::switch_choices(lang, &cart_shop, &new_shop),
            });
            t.session.awaiting = Some(Awaiting::Confirmation);
            t.session.question = Some(Question::SwitchShop { merchant: other, lines });
            return Added::AskedToSwitch;
        }
        if added.is_empty() {
            return Added::Nothing;
        }
        t.say(text::say_checkout(lang));
        Added::Lines
    }

    async fn on_remove(&self, t: &mut Turn<'_>, u: &Understanding, question: Option<Question>) {
        let lang = t.lang;
        if t.session.cart.is_empty() {
            t.say(text::cart_empty(lang));
            return;
        }
        let picked = matches!(question, Some(Question::PickRemoval));
        if !u.lines.is_empty() || picked {
            self.remove_matching(t, &u.lines).await;
            return;
        }
        if t.session.cart.len() == 1 {
            let only = t.session.cart.clone();
            self.remove_matching(t, &only).await;
            return;
        }
        let candidates: Vec<ItemRef> =
            t.session.cart.iter().map(|line| ItemRef { merchant: line.merchant, item: line.item }).collect();
        self.offer_items(t, text::which_to_remove(lang), &candidates, Question::PickRemoval);
    }

    /// Takes lines off the cart: a target with a quantity above one, below the line's, lowers
    /// it; otherwise the whole line goes (a quantity of one is what the understanding gives when
    /// no number was said, so it cannot mean "one of them").
    pub(crate) async fn remove_matching(&self, t: &mut Turn<'_>, targets: &[CartLine]) -> usize {
        let lang = t.lang;
        let mut removed = Vec::new();
        for target in targets {
            let mut index = 0;
            while index < t.session.cart.len() {
                let line = &t.session.cart[index];
                let same = line.merchant == target.merchant
                    && line.item == target.item
                    && (target.size.is_none() || target.size == line.size);
                if !same {
                    index += 1;
                    continue;
                }
                if !target.from_reference && target.quantity > 1 && target.quantity < line.quantity {
                    let mut part = line.clone();
                    part.quantity = target.quantity;
                    removed.push(self.line_text(lang, &part));
                    t.session.cart[index].quantity -= target.quantity;
                    index += 1;
                } else {
                    let line = t.session.cart.remove(index);
                    removed.push(self.line_text(lang, &line));
                }
            }
        }
        if removed.is_empty() {
            t.say(text::not_in_cart(lang));
            return 0;
        }
        self.drop_pending(t, true).await;
        t.say(text::removed(lang, &removed));
        t.emit(self.cart_event(t.session));
        if t.session.cart.is_empty() {
            t.say(text::cart_empty(lang));
        } else {
            t.say(text::say_checkout(lang));
        }
        removed.len()
    }

    pub(crate) fn on_show_cart(&self, t: &mut Turn<'_>) {
        let lang = t.lang;
        let Some(merchant) = t.session.cart_merchant() else {
            t.say(text::cart_empty(lang));
            return;
        };
        t.emit(self.cart_event(t.session));
        let lines: Vec<String> = t.session.cart.iter().map(|line| self.line_text(lang, line)).collect();
        t.say(text::cart(lang, &self.shop_name(lang, merchant), &lines));
        match t.session.pending.as_ref().map(|pending| pending.quote.clone()) {
            // The quote still prices exactly this cart: ask about it again.
            Some(quote) => self.ask_confirmation(t, &quote),
            None => t.say(text::say_checkout(lang)),
        }
    }

    /// Drops the pending quote (the cart or its shop changed, or the shopper said no) and gives
    /// its coupon back, at once or, in a planner turn, when the turn is kept.
    pub(crate) async fn drop_pending(&self, t: &mut Turn<'_>, announce: bool) {
        let Some(pending) = t.session.pending.take() else {
            return;
        };
        if t.session.awaiting == Some(Awaiting::Confirmation) {
            t.session.awaiting = None;
        }
        match &mut t.deferred {
            None => self.shop.cancel_quote(t.shopper, pending.quote.quote).await,
            Some(deferred) => deferred.cancel_on_commit.push(pending.quote.quote),
        }
        if announce {
            t.say(text::quote_dropped(t.lang));
        }
    }

    // -----------------------------------------------------------------------------------------
    // Quotes and orders.

    /// Prices the cart with the best coupon, shows the quote and asks to confirm it.
    pub(crate) async fn checkout(&self, t: &mut Turn<'_>) {
        let lang = t.lang;
        let Some(merchant) = t.session.cart_merchant() else {
            t.say(text::cart_empty(lang));
            return;
        };
        self.drop_pending(t, false).await;
        let request =
            QuoteRequest { merchant, lines: pricing_lines(&t.session.cart), coupon: CouponChoice::Best };
        match self.shop.quote(t.shopper, request).await {
            Ok(quote) => {
                if let Some(deferred) = &mut t.deferred {
                    deferred.created.push(quote.quote);
                }
                t.session.pending =
                    Some(PendingQuote { quote: quote.clone(), cart: t.session.cart.clone(), waiting: None });
                t.emit(AgentEvent::Quote { quote: quote.clone() });
                t.say(text::quote(lang, &quote));
                let campaigns =
                    if quote.coupon_notes.is_empty() { Vec::new() } else { self.shop.campaigns() };
                for note in &quote.coupon_notes {
                    let terms = campaigns
                        .iter()
                        .find(|campaign| campaign.name == note.campaign_name)
                        .and_then(|campaign| self.shop.campaign_terms(campaign.campaign));
                    let missing = terms.and_then(|terms| terms.min_spend.checked_sub(quote.subtotal).ok());
                    let sentence = match (note.reason_code.as_str(), terms, missing) {
                        ("discount_code_minimum_not_met", Some(terms), Some(missing))
                            if missing > Money::ZERO =>
                        {
                            text::coupon_needs_more(
                                lang,
                                &note.campaign_name,
                                terms.face_value,
                                terms.min_spend,
                                missing,
                            )
                        }
                        (code, _, _) => text::coupon_reason(lang, &note.campaign_name, code),
                    };
                    t.say(sentence);
                }
                if quote.merchant_busy {
                    t.say(text::shop_busy_note(
                        lang,
                        &local_name(lang, &quote.merchant_name),
                        quote.merchant_eta_ms,
                    ));
                }
                self.ask_confirmation(t, &quote);
            }
            Err(refusal) => {
                self.refused(t, &refusal, Stage::Quote);
            }
        }
    }

    fn ask_confirmation(&self, t: &mut Turn<'_>, quote: &QuoteInfo) {
        let lang = t.lang;
        let shop = local_name(lang, &quote.merchant_name);
        let address = t.session.address.clone();
        t.say(text::confirm(lang, quote.total, &shop, address.as_deref()));
        // The last question asked is the one a yes answers.
        t.session.awaiting = Some(Awaiting::Confirmation);
        t.session.question = None;
    }

    async fn on_yes(&self, t: &mut Turn<'_>, question: Option<Question>, awaiting: Option<Awaiting>) {
        match question {
            Some(Question::SwitchShop { merchant, lines }) => {
                self.drop_pending(t, false).await;
                t.session.cart.clear();
                t.session.merchant = Some(merchant);
                self.add_lines(t, lines).await;
            }
            Some(Question::CancelOrder(order)) => self.cancel_order(t, order).await,
            Some(question @ (Question::PickItem { .. } | Question::PickResult | Question::PickRemoval)) => {
                // "Yes" is not one of the numbers: ask again, keeping the choices.
                t.session.question = Some(question);
                t.session.awaiting = awaiting;
                t.say(text::which_item(t.lang));
            }
            Some(Question::Alternatives(_)) => self.confirm_pending(t, true).await,
            None => self.confirm_pending(t, awaiting == Some(Awaiting::Confirmation)).await,
        }
    }

    /// A yes with no other question open: place the pending quote if the last answer asked
    /// about it; show it again if it did not; price the cart if there is no quote.
    async fn confirm_pending(&self, t: &mut Turn<'_>, asked: bool) {
        match t.session.pending.as_ref().map(|pending| pending.quote.clone()) {
            Some(_) if asked => self.place_pending(t).await,
            Some(quote) => {
                // The yes is not an answer to this quote (the conversation moved on since it was
                // shown): show it again rather than place what the shopper may not be looking at.
                t.emit(AgentEvent::Quote { quote: quote.clone() });
                t.say(text::quote(t.lang, &quote));
                self.ask_confirmation(t, &quote);
            }
            None => self.checkout(t).await,
        }
    }

    /// Places exactly the pending quote: the one the shopper just said yes to. The only call to
    /// [`Shop::place`] in the crate.
    async fn place_pending(&self, t: &mut Turn<'_>) {
        // A planner turn can never place: it has no tool for it, and this guard keeps it so.
        if t.deferred.is_some() {
            return;
        }
        let Some(pending) = t.session.pending.clone() else {
            return;
        };
        let key = t.session.placement_key(pending.quote.quote);
        match self.shop.place(t.shopper, pending.quote.quote, &key).await {
            Ok(order) => {
                config::bump(&self.counters.orders_placed);
                t.session.orders_placed += 1;
                t.placed = Some(order.order);
                t.session.pending = None;
                t.session.awaiting = None;
                t.session.last_order = pending.cart;
                t.session.cart.clear();
                t.session.last_items.clear();
                t.emit(AgentEvent::OrderPlaced { order: order.clone() });
                t.say(text::placed(t.lang, &order));
            }
            Err(refusal) => {
                if self.refused(t, &refusal, Stage::Place) == Followup::Requote {
                    t.session.pending = None;
                    t.say(text::quote_renewed(t.lang, &refusal.code));
                    let before_quote = t.said.len();
                    self.checkout(t).await;
                    // A fresh quote that costs more says so before it asks again (both prices
                    // are the quotes' own): most often its coupon went to another order.
                    let fresh =
                        t.session.pending.as_ref().map(|fresh| (fresh.quote.total, fresh.quote.discount));
                    if let Some((total, discount)) = fresh
                        && let Ok(more) = total.checked_sub(pending.quote.total)
                        && more > Money::ZERO
                    {
                        let coupon_lost = discount < pending.quote.discount;
                        t.said.insert(before_quote, text::costs_more(t.lang, more, coupon_lost));
                    }
                }
            }
        }
    }

    async fn on_no(&self, t: &mut Turn<'_>, question: Option<Question>, awaiting: Option<Awaiting>) {
        let lang = t.lang;
        match question {
            Some(Question::SwitchShop { .. }) => {
                let shop = t
                    .session
                    .cart_merchant()
                    .map(|merchant| self.shop_name(lang, merchant))
                    .unwrap_or_default();
                t.say(text::kept_cart(lang, &shop));
                // The quote, if any, is still the one shown for this cart.
                if let Some(quote) = t.session.pending.as_ref().map(|pending| pending.quote.clone()) {
                    self.ask_confirmation(t, &quote);
                }
            }
            Some(Question::CancelOrder(_)) => t.say(text::order_kept(lang)),
            Some(Question::Alternatives(_)) => self.decline(t).await,
            _ if awaiting == Some(Awaiting::Confirmation) && t.session.pending.is_some() => {
                self.decline(t).await
            }
            _ => t.say(text::ok(lang)),
        }
    }

    /// The shopper does not want the quote: cancel it (its coupon goes back), keep the cart.
    async fn decline(&self, t: &mut Turn<'_>) {
        self.drop_pending(t, false).await;
        t.say(text::declined(t.lang));
    }

    /// Says why an operation was refused, in the shopper's language and honestly: the waiting
    /// room's position and ETA, a busy shop's wait and faster shops, a campaign's state.
    fn refused(&self, t: &mut Turn<'_>, refusal: &Refusal, stage: Stage) -> Followup {
        let lang = t.lang;
        match refusal.code.as_str() {
            "queued" => match &refusal.waiting {
                Some(waiting) => {
                    t.emit(AgentEvent::Queued { waiting: waiting.clone() });
                    let keeping = stage == Stage::Place && t.session.pending.is_some();
                    t.say(text::queued(lang, waiting, keeping));
                    if keeping {
                        // The same quote, under the same key, is what the next yes places.
                        if let Some(pending) = &mut t.session.pending {
                            pending.waiting = Some(waiting.clone());
                        }
                        t.session.awaiting = Some(Awaiting::Confirmation);
                    }
                }
                None => t.say(text::something_wrong(lang, &refusal.message)),
            },
            "merchant_busy" | "merchant_paused" => self.shop_unavailable(t, refusal),
            "expired" | "invalid_transition" | "not_found" | "discount_code_expired"
                if stage == Stage::Place =>
            {
                return Followup::Requote;
            }
            code => {
                let sentence = text::refusal_reason(lang, code)
                    .unwrap_or_else(|| text::something_wrong(lang, &refusal.message));
                t.say(sentence);
            }
        }
        Followup::Nothing
    }

    /// A busy or paused shop: its honest wait, the faster shops, and (when they sell the same
    /// items) the offer to move the cart there.
    fn shop_unavailable(&self, t: &mut Turn<'_>, refusal: &Refusal) {
        let lang = t.lang;
        let pending_quote = t.session.pending.as_ref().map(|pending| pending.quote.clone());
        let Some(merchant) = pending_quote.as_ref().map(|quote| quote.merchant).or(t.session.cart_merchant())
        else {
            t.say(text::something_wrong(lang, &refusal.message));
            return;
        };
        let full_name = self.shop.merchant_name(merchant).unwrap_or_else(|| merchant.to_string());
        let shop = local_name(lang, &full_name);
        let busy = refusal.code == "merchant_busy";
        if busy {
            let quoted_eta = pending_quote.as_ref().map_or(0, |quote| quote.merchant_eta_ms);
            let eta_ms = refusal.retry_after_ms.unwrap_or(0).max(quoted_eta);
            t.emit(AgentEvent::Busy {
                merchant_name: full_name,
                eta_ms,
                alternatives: refusal.alternatives.clone(),
            });
            t.say(text::busy(lang, &shop, eta_ms, &refusal.alternatives));
        } else {
            t.say(text::paused_shop(lang, &shop, &refusal.alternatives));
        }
        // Offer only shops whose menu has every item of the cart: moving there keeps the cart.
        let usable: Vec<Alternative> = refusal
            .alternatives
            .iter()
            .filter(|alternative| {
                t.session.cart.iter().all(|line| {
                    self.shop.item(ItemRef { merchant: alternative.merchant, item: line.item }).is_some()
                })
            })
            .take(self.config.results_shown_max)
            .cloned()
            .collect();
        let first_item = t.session.cart.first().map(|line| line.item);
        if let (false, Some(item)) = (usable.is_empty(), first_item) {
            let refs =
                usable.iter().map(|alternative| ItemRef { merchant: alternative.merchant, item }).collect();
            let labels = usable
                .iter()
                .map(|alternative| {
                    let name = local_name(lang, &alternative.name);
                    let eta = text::duration(lang, alternative.eta_ms);
                    match alternative.distance_m {
                        Some(metres) => format!("{name} · {eta} · {}", text::distance(lang, metres)),
                        None => format!("{name} · {eta}"),
                    }
                })
                .collect();
            self.ask_choice(t, text::pick_alternative(lang), labels, refs, Question::Alternatives(usable));
        } else if busy && t.session.pending.is_some() {
            // No faster shop: a later yes tries this one again with the same quote.
            t.session.awaiting = Some(Awaiting::Confirmation);
        }
    }

    /// Moves the cart to another outlet with the same menu, and quotes it there.
    async fn move_to(&self, t: &mut Turn<'_>, merchant: MerchantId) {
        self.drop_pending(t, false).await;
        for line in &mut t.session.cart {
            line.merchant = merchant;
        }
        t.session.merchant = Some(merchant);
        t.say(text::moved_to(t.lang, &self.shop_name(t.lang, merchant)));
        self.checkout(t).await;
    }

    // -----------------------------------------------------------------------------------------
    // Coupons, address, orders, browsing.

    pub(crate) fn on_list_coupons(&self, t: &mut Turn<'_>) {
        let lang = t.lang;
        let wallet = self.shop.wallet(t.shopper);
        if !wallet.is_empty() {
            t.say(text::coupons(lang, &wallet));
            t.emit(AgentEvent::Coupons { coupons: wallet });
            return;
        }
        match self.shop.campaigns().into_iter().find(|campaign| campaign.open) {
            Some(campaign) => t.say(text::no_coupons_offer(lang, &campaign.name)),
            None => t.say(text::no_coupons(lang)),
        }
    }

    async fn on_use_coupon(&self, t: &mut Turn<'_>, u: &Understanding) {
        let lang = t.lang;
        let campaigns = self.shop.campaigns();
        let target = match &u.coupon_code {
            Some(code) => {
                let wanted = code.to_lowercase();
                let found = campaigns.iter().find(|campaign| {
                    let name = campaign.name.to_lowercase();
                    campaign.campaign.to_string() == wanted
                        || name.contains(&wanted)
                        || wanted.contains(&name)
                });
                match found {
                    Some(campaign) => campaign.clone(),
                    None => {
                        t.say(text::no_such_campaign(lang, code));
                        return;
                    }
                }
            }
            None => {
                let open: Vec<_> = campaigns.iter().filter(|campaign| campaign.open).collect();
                match (open.as_slice(), campaigns.as_slice()) {
                    // The only campaign is closed: ask for its coupon anyway, so the engine's
                    // reason (paused, ended, budget given out) is what the shopper hears.
                    ([], [only]) => only.clone(),
                    ([], _) => {
                        t.say(text::no_coupons(lang));
                        return;
                    }
                    ([only], _) => (*only).clone(),
                    (several, _) => {
                        let names: Vec<String> =
                            several.iter().map(|campaign| campaign.name.clone()).collect();
                        t.say(format!("{} {}", text::which_campaign(lang), text::list(lang, &names)));
                        t.emit(AgentEvent::Choices { question: text::which_campaign(lang), choices: names });
                        return;
                    }
                }
            }
        };
        match self.shop.claim(t.shopper, target.campaign).await {
            Ok(coupon) => {
                t.say(text::claimed(lang, &coupon));
                t.emit(AgentEvent::Coupons { coupons: vec![coupon] });
                if t.session.pending.is_some() {
                    // Price again so the new coupon can apply; the new quote needs a new yes.
                    self.checkout(t).await;
                }
            }
            Err(refusal) => {
                self.refused(t, &refusal, Stage::Claim);
            }
        }
    }

    fn on_set_address(&self, t: &mut Turn<'_>, u: &Understanding) {
        let lang = t.lang;
        match u.address.as_deref().map(str::trim).filter(|address| !address.is_empty()) {
            Some(address) => {
                t.session.address = Some(address.to_string());
                t.say(text::address_set(lang, address));
                // The confirmation covers the address too: ask again with the new one.
                if let Some(quote) = t.session.pending.as_ref().map(|pending| pending.quote.clone()) {
                    self.ask_confirmation(t, &quote);
                }
            }
            None => {
                t.say(text::ask_address(lang));
                t.session.awaiting = Some(Awaiting::Address);
                t.session.question = None;
            }
        }
    }

    /// The order a status question or cancellation is about: the one named, else the latest.
    fn find_order(&self, shopper: ShopperId, order_ref: Option<OrderRef>) -> Result<OrderInfo, bool> {
        let orders = self.shop.orders(shopper);
        let any = !orders.is_empty();
        let found = match order_ref {
            Some(OrderRef::Id(id)) => orders.into_iter().find(|order| order.order == id),
            _ => orders.into_iter().next(),
        };
        found.ok_or(any)
    }

    fn say_missing_order(t: &mut Turn<'_>, any_orders: bool) {
        let lang = t.lang;
        t.say(if any_orders { text::no_such_order(lang) } else { text::no_orders(lang) });
    }

    async fn on_cancel_order(&self, t: &mut Turn<'_>, u: &Understanding, awaiting: Option<Awaiting>) {
        // "Cancel it" while a quote waits for a yes means that quote, not an order already placed.
        let names_an_order = matches!(u.order_ref, Some(OrderRef::Id(_)));
        if awaiting == Some(Awaiting::Confirmation) && t.session.pending.is_some() && !names_an_order {
            self.decline(t).await;
            return;
        }
        match self.find_order(t.shopper, u.order_ref) {
            Ok(order) => self.cancel_order(t, order.order).await,
            Err(any) => Self::say_missing_order(t, any),
        }
    }

    async fn cancel_order(&self, t: &mut Turn<'_>, order: OrderId) {
        let lang = t.lang;
        match self.shop.cancel_order(t.shopper, order).await {
            Ok(info) => {
                t.say(text::canceled(lang, &info));
                t.emit(AgentEvent::OrderStatus { order: info });
            }
            Err(refusal) if refusal.code == "invalid_transition" => {
                match self.find_order(t.shopper, Some(OrderRef::Id(order))) {
                    Ok(info) => t.say(text::cannot_cancel(lang, &info)),
                    Err(_) => t.say(text::something_wrong(lang, &refusal.message)),
                }
            }
            Err(refusal) => {
                self.refused(t, &refusal, Stage::CancelOrder);
            }
        }
    }

    fn on_order_status(&self, t: &mut Turn<'_>, u: &Understanding) {
        match self.find_order(t.shopper, u.order_ref) {
            Ok(order) => {
                t.say(text::order_status(t.lang, &order));
                t.emit(AgentEvent::OrderStatus { order });
            }
            Err(any) => Self::say_missing_order(t, any),
        }
    }

    fn on_browse(&self, t: &mut Turn<'_>, u: &Understanding, utterance: &str) {
        let lang = t.lang;
        let query = if u.mentions.is_empty() {
            utterance.to_string()
        } else {
            u.mentions.iter().map(|mention| mention.text.as_str()).collect::<Vec<_>>().join(" ")
        };
        let found = self.shop.search(&query, u.merchant, self.config.results_shown_max);
        if found.is_empty() {
            t.say(text::nothing_found(lang));
            return;
        }
        let refs: Vec<ItemRef> = found.iter().map(|found| found.item).collect();
        t.emit(AgentEvent::Results { items: found });
        self.offer_items(t, text::found(lang), &refs, Question::PickResult);
    }
}

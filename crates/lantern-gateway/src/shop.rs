//! [`GatewayShop`]: the agent's commerce operations over the ledger, with admission control in
//! front of every write, so a shopper in the chat queues and is refused exactly as one calling
//! the API (the chat is not a side door around the waiting room).

use std::net::IpAddr;
use std::sync::Arc;

use axum::http::{HeaderMap, HeaderValue};
use lantern_admission::Class;
use lantern_agent::{
    Alternative, CampaignInfo, CampaignTerms, ChoiceInfo, CouponInfo, CouponNote, Found, ItemDetails,
    ItemInfo, OrderInfo, QuoteInfo, QuoteRequest, QuotedLine, Refusal, Shop, Waiting,
};
use lantern_core::{CampaignId, IdempotencyKey, MerchantId, OrderChannel, OrderId, QuoteId, ShopperId};
use lantern_ledger::{Command, Ledger, Outcome, QuoteView};
use lantern_nlu::ItemRef;

use crate::app::{App, TICKET_HEADER};
use crate::error::ApiError;
use parking_lot::Mutex;

/// The shop as one chat request's shopper sees it (`ip` for admission's per-address limit).
#[derive(Debug, Clone)]
pub struct GatewayShop {
    pub app: Arc<App>,
    pub ip: IpAddr,
    /// A waiting-room ticket the shopper came back with (from an earlier turn's `queued`): the
    /// first write of its class presents it, so the shopper gets the place they waited for
    /// instead of queueing again at the back.
    ticket: Arc<Mutex<Option<(Class, String)>>>,
}

impl GatewayShop {
    pub fn new(app: Arc<App>, ip: IpAddr) -> GatewayShop {
        GatewayShop { app, ip, ticket: Arc::default() }
    }

    /// This shop presents `ticket` on its first write of `class`.
    pub fn with_ticket(self, class: Class, ticket: String) -> GatewayShop {
        *self.ticket.lock() = Some((class, ticket));
        self
    }

    /// Admission for `class`, then the command; refusals in the agent's terms.
    async fn run(&self, class: Class, shopper: ShopperId, command: Command) -> Result<Outcome, Refusal> {
        let mut headers = HeaderMap::new();
        {
            let mut ticket = self.ticket.lock();
            if ticket.as_ref().is_some_and(|(ticket_class, _)| *ticket_class == class)
                && let Some((_, text)) = ticket.take()
                && let Ok(value) = HeaderValue::from_str(&text)
            {
                headers.insert(TICKET_HEADER, value);
            }
        }
        let (_permit, _) =
            self.app.admit_or_wait(class, Some(shopper), self.ip, &headers).await.map_err(refusal)?;
        self.app.submit(command).await.map_err(refusal)
    }
}

fn refusal(error: ApiError) -> Refusal {
    Refusal {
        code: error.code.clone(),
        message: error.message.clone(),
        retry_after_ms: error.retry_after_ms,
        waiting: error.waiting.as_ref().map(|body| Waiting {
            position: body.position,
            eta_ms: body.eta_ms,
            ticket: body.ticket.clone(),
        }),
        alternatives: error
            .alternatives
            .iter()
            .filter_map(|summary| {
                Some(Alternative {
                    merchant: MerchantId::parse(&summary.id).ok()?,
                    name: summary.name.clone(),
                    eta_ms: summary.eta_ms,
                    distance_m: summary.distance_m,
                })
            })
            .collect(),
    }
}

fn merchant_name(ledger: &Ledger, merchant: MerchantId) -> String {
    ledger.merchant(merchant).map(|(shop, ..)| shop.name().to_owned()).unwrap_or_else(|| merchant.to_string())
}

fn quote_info(ledger: &Ledger, view: &QuoteView) -> QuoteInfo {
    let catalog = crate::convert::catalog_of(ledger, view.merchant);
    let lines = view
        .lines
        .iter()
        .map(|line| {
            let item = catalog.and_then(|catalog| catalog.item(line.item));
            let options = line
                .options
                .iter()
                .filter_map(|option| {
                    item.and_then(|item| {
                        item.option_groups
                            .iter()
                            .flat_map(|group| &group.choices)
                            .find(|choice| choice.id == *option)
                    })
                })
                .map(|choice| choice.name.clone())
                .collect();
            QuotedLine {
                name: item.map(|item| item.name.clone()).unwrap_or_else(|| line.item.to_string()),
                quantity: line.quantity,
                options,
                line_total: line.line_total,
            }
        })
        .collect();
    let campaign_name = |campaign: CampaignId| {
        ledger
            .campaign(campaign)
            .map(|campaign| campaign.spec().name.clone())
            .unwrap_or_else(|| campaign.to_string())
    };
    QuoteInfo {
        quote: view.quote,
        merchant: view.merchant,
        merchant_name: merchant_name(ledger, view.merchant),
        lines,
        subtotal: view.subtotal,
        discount: view.discount,
        total: view.total,
        coupon_campaign: view.coupon.map(|coupon| campaign_name(coupon.campaign)),
        coupon_notes: view
            .rejected_coupons
            .iter()
            .map(|rejected| CouponNote {
                campaign_name: campaign_name(rejected.campaign),
                reason_code: rejected.reason.as_str().to_owned(),
            })
            .collect(),
        expires_at: view.expires_at.to_string(),
        merchant_eta_ms: view.merchant_eta_ms,
        merchant_busy: view.merchant_status != lantern_core::MerchantStatus::Open,
    }
}

fn order_info(ledger: &Ledger, order: OrderId) -> Option<OrderInfo> {
    let view = ledger.order(order)?;
    let receipt = &view.receipt;
    Some(OrderInfo {
        order,
        merchant: receipt.merchant,
        merchant_name: merchant_name(ledger, receipt.merchant),
        status: view.status.as_str().to_owned(),
        total: receipt.total,
        discount: receipt.discount,
        eta_ms: receipt.eta_ms,
    })
}

fn describe_campaign(ledger: &Ledger, campaign: CampaignId) -> String {
    let Some(campaign) = ledger.campaign(campaign) else { return String::new() };
    let spec = campaign.spec();
    if spec.min_spend.fen() > 0 {
        format!("{} off orders of {} or more", campaign.face_value(), spec.min_spend)
    } else {
        format!("{} off", campaign.face_value())
    }
}

impl Shop for GatewayShop {
    fn search(&self, text: &str, merchant: Option<MerchantId>, limit: usize) -> Vec<Found> {
        let hits = self.app.catalogs.search(text, merchant, limit).unwrap_or_default();
        hits.into_iter()
            .map(|hit| Found {
                item: ItemRef { merchant: hit.merchant, item: hit.item },
                name: hit.name,
                merchant_name: hit.merchant_name,
                price: hit.price,
            })
            .collect()
    }

    fn item(&self, item: ItemRef) -> Option<ItemInfo> {
        self.app.sequencer.read(|ledger| {
            let entry = crate::convert::catalog_of(ledger, item.merchant)?.item(item.item)?;
            Some(ItemInfo {
                item,
                name: entry.name.clone(),
                merchant_name: merchant_name(ledger, item.merchant),
                price: entry.price,
                options: entry
                    .option_groups
                    .iter()
                    .map(|group| {
                        (group.name.clone(), group.choices.iter().map(|choice| choice.name.clone()).collect())
                    })
                    .collect(),
            })
        })
    }

    fn item_details(&self, item: ItemRef) -> Option<ItemDetails> {
        let (catalog, choices) = self.app.sequencer.read(|ledger| {
            let (shop, ..) = ledger.merchant(item.merchant)?;
            let entry = ledger.catalog(shop.catalog)?.item(item.item)?;
            let choices: Vec<ChoiceInfo> = entry
                .option_groups
                .iter()
                .flat_map(|group| {
                    group.choices.iter().map(|choice| ChoiceInfo {
                        option: choice.id,
                        group: group.name.clone(),
                        kind: group.kind.as_str().to_owned(),
                        name: choice.name.clone(),
                        price_delta: choice.price_delta,
                    })
                })
                .collect();
            Some((shop.catalog, choices))
        })?;
        Some(ItemDetails { choices, description: self.app.catalogs.description(catalog, item.item) })
    }

    fn campaign_terms(&self, campaign: CampaignId) -> Option<CampaignTerms> {
        self.app.sequencer.read(|ledger| {
            let campaign = ledger.campaign(campaign)?;
            Some(CampaignTerms { face_value: campaign.face_value(), min_spend: campaign.spec().min_spend })
        })
    }

    fn merchant_name(&self, merchant: MerchantId) -> Option<String> {
        self.app.sequencer.read(|ledger| ledger.merchant(merchant).map(|(shop, ..)| shop.name().to_owned()))
    }

    fn campaigns(&self) -> Vec<CampaignInfo> {
        let now = self.app.now();
        self.app.sequencer.read(|ledger| {
            ledger
                .campaign_ids()
                .into_iter()
                .filter_map(|id| {
                    let stats = ledger.campaign_stats(id)?;
                    let open = stats.status == lantern_core::CampaignStatus::Active
                        && stats.starts_at <= now
                        && now < stats.ends_at
                        && stats.available >= stats.face_value;
                    Some(CampaignInfo {
                        campaign: id,
                        name: stats.name,
                        describe: describe_campaign(ledger, id),
                        open,
                    })
                })
                .collect()
        })
    }

    fn wallet(&self, shopper: ShopperId) -> Vec<CouponInfo> {
        self.app.sequencer.read(|ledger| {
            ledger
                .wallet(shopper)
                .iter()
                .map(|coupon| CouponInfo {
                    coupon: coupon.coupon,
                    campaign: coupon.coupon.campaign,
                    campaign_name: ledger
                        .campaign(coupon.coupon.campaign)
                        .map(|campaign| campaign.spec().name.clone())
                        .unwrap_or_default(),
                    describe: describe_campaign(ledger, coupon.coupon.campaign),
                    status: coupon.status.as_str().to_owned(),
                    expires_at: coupon.expires_at.to_string(),
                })
                .collect()
        })
    }

    fn orders(&self, shopper: ShopperId) -> Vec<OrderInfo> {
        let ids: Vec<OrderId> =
            self.app.index.read().orders_by_shopper.get(&shopper).cloned().unwrap_or_default();
        self.app
            .sequencer
            .read(|ledger| ids.iter().rev().filter_map(|order| order_info(ledger, *order)).collect())
    }

    async fn claim(&self, shopper: ShopperId, campaign: CampaignId) -> Result<CouponInfo, Refusal> {
        let command = Command::ClaimCoupon { shopper, campaign, referred_by: None };
        let Outcome::CouponClaimed { coupon, .. } = self.run(Class::Claim, shopper, command).await? else {
            return Err(refusal(ApiError::not_found("the claim answered something else")));
        };
        let wallet = self.wallet(shopper);
        wallet
            .into_iter()
            .find(|entry| entry.coupon == coupon)
            .ok_or_else(|| refusal(ApiError::not_found("the claimed coupon is not in the wallet")))
    }

    async fn quote(&self, shopper: ShopperId, request: QuoteRequest) -> Result<QuoteInfo, Refusal> {
        let command = Command::Quote {
            shopper,
            merchant: request.merchant,
            lines: request.lines,
            coupon: request.coupon,
        };
        match self.run(Class::Checkout, shopper, command).await? {
            Outcome::Quoted(view) => Ok(self.app.sequencer.read(|ledger| quote_info(ledger, &view))),
            _ => Err(refusal(ApiError::not_found("the quote answered something else"))),
        }
    }

    async fn cancel_quote(&self, shopper: ShopperId, quote: QuoteId) {
        // Best effort: an unconfirmed quote that is not cancelled lapses with its hold anyway.
        let _ = self.app.submit(Command::CancelQuote { shopper, quote }).await;
    }

    async fn place(
        &self,
        shopper: ShopperId,
        quote: QuoteId,
        idempotency_key: &str,
    ) -> Result<OrderInfo, Refusal> {
        let idempotency_key = IdempotencyKey::new(idempotency_key)
            .map_err(|error| refusal(ApiError::invalid("idempotency_key", error.to_string())))?;
        // A shop with no order slot is refused before queueing, with faster shops to offer.
        crate::routes::shop_can_take_quote(&self.app, shopper, quote, |ledger| {
            ledger.placed_under_key(shopper, &idempotency_key).is_some()
        })
        .map_err(refusal)?;
        let command = Command::PlaceOrder { shopper, quote, idempotency_key, channel: OrderChannel::Chat };
        let Outcome::OrderPlaced { receipt, .. } =
            self.run(Class::CompleteCheckout, shopper, command).await?
        else {
            return Err(refusal(ApiError::not_found("placing answered something else")));
        };
        self.app.index.write().record_order(&receipt);
        self.app
            .sequencer
            .read(|ledger| order_info(ledger, receipt.order))
            .ok_or_else(|| refusal(ApiError::not_found("the placed order is not readable")))
    }

    async fn cancel_order(&self, shopper: ShopperId, order: OrderId) -> Result<OrderInfo, Refusal> {
        self.run(Class::Checkout, shopper, Command::CancelOrder { shopper, order }).await?;
        self.app
            .sequencer
            .read(|ledger| order_info(ledger, order))
            .ok_or_else(|| refusal(ApiError::not_found("the order is not readable")))
    }
}

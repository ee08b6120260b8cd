//! Bytes to commands, checking everything: the bytes come from a disk that may have been
//! damaged or from another lantern version.

use std::sync::Arc;

use lantern_core::pricing::CartLine;
use lantern_core::{
    Address, CampaignId, CampaignSpec, Capacity, Catalog, CatalogId, CouponTemplate, Eligibility, GeoPoint,
    IdempotencyKey, IssuancePace, Item, ItemId, ItemOption, Merchant, MerchantId, MerchantStatus, Money,
    OptionGroup, OptionId, OptionKind, OrderChannel, OrderEvent, OrderId, QuoteId, ShopperId, Timestamp,
    Validity, Wave,
};
use lantern_ledger::{CampaignEdit, Command, CouponChoice};

use crate::encode::zigzag;
use crate::error::{CommandProblem, DecodeError, InvalidValue};
use crate::format::{
    ADDRESS_FORMAT_VERSION, BATCH_HEADER_BYTES, BATCH_MAGIC, CHANNEL_FORMAT_VERSION, COMMAND_COUNT_BYTES,
    COMMAND_COUNT_OFFSET, FORMAT_VERSION, LOCATION_FORMAT_VERSION, OLDEST_FORMAT_VERSION,
    PREALLOCATED_ELEMENTS_MAX, command_tag, coupon_choice_tag, edit_tag, merchant_status_tag,
    min_encoded_bytes, option_kind_tag, order_channel_tag, order_event_tag, pace_tag, presence, template_tag,
};

/// Decodes one batch written by [`encode_batch`](crate::encode_batch).
///
/// Every byte is accounted for: a wrong magic or version, an unknown tag, a length past the
/// end, invalid UTF-8, a value its domain constructor refuses, or bytes left over after the
/// last command are all errors that say where they are. Never panics.
pub fn decode_batch(bytes: &[u8]) -> Result<Vec<Command>, DecodeError> {
    if bytes.len() < BATCH_HEADER_BYTES {
        // A short prefix of the magic is still worth naming as "not a journal" versus "truncated",
        // but both need the same fix, so one error does.
        return Err(DecodeError::HeaderTruncated { length_bytes: bytes.len() });
    }
    let mut magic = [0_u8; BATCH_MAGIC.len()];
    magic.copy_from_slice(&bytes[..BATCH_MAGIC.len()]);
    if magic != BATCH_MAGIC {
        return Err(DecodeError::BadMagic { found: magic });
    }
    let version = bytes[BATCH_MAGIC.len()];
    if version > FORMAT_VERSION {
        return Err(DecodeError::NewerVersion { version });
    }
    if version < OLDEST_FORMAT_VERSION {
        return Err(DecodeError::UnknownVersion { version });
    }
    let mut count = [0_u8; COMMAND_COUNT_BYTES];
    count.copy_from_slice(&bytes[COMMAND_COUNT_OFFSET..COMMAND_COUNT_OFFSET + COMMAND_COUNT_BYTES]);
    let n_commands = u32::from_le_bytes(count);
    let remaining_bytes = bytes.len() - BATCH_HEADER_BYTES;
    let n_commands_usize = usize::try_from(n_commands).unwrap_or(usize::MAX);
    if n_commands_usize > remaining_bytes / min_encoded_bytes::COMMAND {
        return Err(DecodeError::CountBeyondEnd { n_commands, remaining_bytes });
    }

    let mut reader = Reader { bytes, version, position: BATCH_HEADER_BYTES, command_index: 0 };
    let mut commands = Vec::with_capacity(n_commands_usize.min(PREALLOCATED_ELEMENTS_MAX));
    for command_index in 0..n_commands_usize {
        reader.command_index = command_index;
        commands.push(reader.command()?);
    }
    if reader.position != bytes.len() {
        return Err(DecodeError::TrailingBytes {
            offset: reader.position,
            n_bytes: bytes.len() - reader.position,
        });
    }
    Ok(commands)
}

/// A cursor over the batch that knows which command it is in, for error messages.
struct Reader<'a> {
    bytes: &'a [u8],
    /// The batch's format version: what a command's fields are.
    version: u8,
    position: usize,
    command_index: usize,
}

impl Reader<'_> {
    fn problem_at(&self, offset: usize, problem: CommandProblem) -> DecodeError {
        DecodeError::Command { command_index: self.command_index, offset, problem }
    }

    fn remaining_bytes(&self) -> usize {
        self.bytes.len() - self.position
    }

    fn byte(&mut self, what: &'static str) -> Result<u8, DecodeError> {
        let Some(&byte) = self.bytes.get(self.position) else {
            return Err(self.problem_at(self.position, CommandProblem::Truncated { what }));
        };
        self.position += 1;
        Ok(byte)
    }

    /// A tag byte, with where it started, for the caller's unknown-tag error.
    fn tag(&mut self, what: &'static str) -> Result<(u8, usize), DecodeError> {
        let offset = self.position;
        Ok((self.byte(what)?, offset))
    }

    fn unknown_tag(&self, what: &'static str, tag: u8, offset: usize) -> DecodeError {
        self.problem_at(offset, CommandProblem::UnknownTag { what, tag })
    }

    /// A LEB128 varint in its shortest form; anything longer would decode to the same value and
    /// break the guarantee that decoded batches re-encode byte for byte.
    fn u64(&mut self, what: &'static str) -> Result<u64, DecodeError> {
        let start = self.position;
        let mut value = 0_u64;
        let mut shift = 0_u32;
        loop {
            let Some(&byte) = self.bytes.get(self.position) else {
                return Err(self.problem_at(start, CommandProblem::Truncated { what }));
            };
            self.position += 1;
            let payload = u64::from(byte & 0x7f);
            // The tenth byte may carry only the top bit of a u64.
            if shift == 63 && payload > 1 {
                return Err(self.problem_at(start, CommandProblem::BadVarint { what }));
            }
            value |= payload << shift;
            if byte & 0x80 == 0 {
                if byte == 0 && shift > 0 {
                    return Err(self.problem_at(start, CommandProblem::BadVarint { what }));
                }
                return Ok(value);
            }
            shift += 7;
            if shift > 63 {
                return Err(self.problem_at(start, CommandProblem::BadVarint { what }));
            }
        }
    }

    fn u32(&mut self, what: &'static str) -> Result<u32, DecodeError> {
        let start = self.position;
        let value = self.u64(what)?;
        u32::try_from(value).map_err(|_| {
            self.problem_at(start, CommandProblem::OutOfRange { what, value, max: u64::from(u32::MAX) })
        })
    }

    fn u16(&mut self, what: &'static str) -> Result<u16, DecodeError> {
        let start = self.position;
        let value = self.u64(what)?;
        u16::try_from(value).map_err(|_| {
            self.problem_at(start, CommandProblem::OutOfRange { what, value, max: u64::from(u16::MAX) })
        })
    }

    fn money(&mut self, what: &'static str) -> Result<Money, DecodeError> {
        Ok(Money::from_fen(unzigzag(self.u64(what)?)))
    }

    fn timestamp(&mut self, what: &'static str) -> Result<Timestamp, DecodeError> {
        Ok(Timestamp::from_ms(self.u64(what)?))
    }

    fn present(&mut self, what: &'static str) -> Result<bool, DecodeError> {
        let offset = self.position;
        match self.byte(what)? {
            presence::ABSENT => Ok(false),
            presence::PRESENT => Ok(true),
            flag => Err(self.problem_at(offset, CommandProblem::BadPresence { what, flag })),
        }
    }

    /// A vector length, refused unless the remaining bytes could hold that many elements of at
    /// least `min_element_bytes` each: the length is checked before anything is allocated.
    fn len(&mut self, what: &'static str, min_element_bytes: usize) -> Result<usize, DecodeError> {
        let start = self.position;
        let length = self.u64(what)?;
        let remaining_bytes = self.remaining_bytes();
        let fitting_length = usize::try_from(length).ok().filter(|&length| {
            length.checked_mul(min_element_bytes).is_some_and(|needed_bytes| needed_bytes <= remaining_bytes)
        });
        fitting_length.ok_or_else(|| {
            self.problem_at(start, CommandProblem::LengthBeyondEnd { what, length, remaining_bytes })
        })
    }

    /// A vector of `length` elements read by `element`.
    fn vec<T>(
        &mut self,
        what: &'static str,
        min_element_bytes: usize,
        mut element: impl FnMut(&mut Self) -> Result<T, DecodeError>,
    ) -> Result<Vec<T>, DecodeError> {
        let length = self.len(what, min_element_bytes)?;
        let mut elements = Vec::with_capacity(length.min(PREALLOCATED_ELEMENTS_MAX));
        for _ in 0..length {
            elements.push(element(self)?);
        }
        Ok(elements)
    }

    fn string(&mut self, what: &'static str) -> Result<String, DecodeError> {
        let start = self.position;
        let length = self.len(what, 1)?;
        let text = &self.bytes[self.position..self.position + length];
        let text = std::str::from_utf8(text)
            .map_err(|_| self.problem_at(start, CommandProblem::BadUtf8 { what }))?;
        self.position += length;
        Ok(text.to_owned())
    }

    fn invalid(&self, offset: usize, what: &'static str, source: impl Into<InvalidValue>) -> DecodeError {
        self.problem_at(offset, CommandProblem::Invalid { what, source: source.into() })
    }

    fn command(&mut self) -> Result<Command, DecodeError> {
        let (tag, tag_offset) = self.tag("command")?;
        let command = match tag {
            command_tag::CREATE_CAMPAIGN => Command::CreateCampaign { spec: self.campaign_spec()? },
            command_tag::EDIT_CAMPAIGN => Command::EditCampaign {
                campaign: CampaignId::new(self.u64("edit_campaign.campaign")?),
                edit: self.campaign_edit()?,
            },
            command_tag::PUBLISH_CATALOG => Command::PublishCatalog { catalog: Arc::new(self.catalog()?) },
            command_tag::REGISTER_MERCHANT => Command::RegisterMerchant { merchant: self.merchant()? },
            command_tag::SET_MERCHANT_STATUS => Command::SetMerchantStatus {
                merchant: MerchantId::new(self.u64("set_merchant_status.merchant")?),
                status: self.merchant_status("set_merchant_status.status")?,
            },
            command_tag::SET_MERCHANT_CAPACITY => Command::SetMerchantCapacity {
                merchant: MerchantId::new(self.u64("set_merchant_capacity.merchant")?),
                capacity: self.capacity("set_merchant_capacity.capacity")?,
            },
            command_tag::CLAIM_COUPON => Command::ClaimCoupon {
                shopper: ShopperId::new(self.u64("claim_coupon.shopper")?),
                campaign: CampaignId::new(self.u64("claim_coupon.campaign")?),
                referred_by: if self.present("claim_coupon.referred_by")? {
                    Some(ShopperId::new(self.u64("claim_coupon.referred_by")?))
                } else {
                    None
                },
            },
            command_tag::QUOTE => Command::Quote {
                shopper: ShopperId::new(self.u64("quote.shopper")?),
                merchant: MerchantId::new(self.u64("quote.merchant")?),
                lines: self.vec("quote.lines", min_encoded_bytes::CART_LINE, Self::cart_line)?,
                coupon: self.coupon_choice()?,
            },
            command_tag::REQUOTE => Command::Requote {
                shopper: ShopperId::new(self.u64("requote.shopper")?),
                quote: QuoteId::new(self.u64("requote.quote")?),
                lines: self.vec("requote.lines", min_encoded_bytes::CART_LINE, Self::cart_line)?,
                coupon: self.coupon_choice()?,
            },
            command_tag::CANCEL_QUOTE => Command::CancelQuote {
                shopper: ShopperId::new(self.u64("cancel_quote.shopper")?),
                quote: QuoteId::new(self.u64("cancel_quote.quote")?),
            },
            command_tag::KEYED => {
                let scope = self.u64("keyed.scope")?;
                let key = self.idempotency_key()?;
                let fingerprint = self.u64("keyed.fingerprint")?;
                // One level only: a keyed command inside a keyed command is refused, which also
                // bounds the decoder's recursion.
                if let Some(&inner_tag) = self.bytes.get(self.position)
                    && inner_tag == command_tag::KEYED
                {
                    return Err(self.unknown_tag("command inside keyed", inner_tag, self.position));
                }
                Command::Keyed { scope, key, fingerprint, command: Box::new(self.command()?) }
            }
            command_tag::PLACE_ORDER => Command::PlaceOrder {
                shopper: ShopperId::new(self.u64("place_order.shopper")?),
                quote: QuoteId::new(self.u64("place_order.quote")?),
                idempotency_key: self.idempotency_key()?,
                channel: self.order_channel("place_order.channel")?,
            },
            command_tag::COUPON_ORDER => Command::CouponOrder {
                shopper: ShopperId::new(self.u64("coupon_order.shopper")?),
                campaign: CampaignId::new(self.u64("coupon_order.campaign")?),
                merchant: MerchantId::new(self.u64("coupon_order.merchant")?),
                lines: self.vec("coupon_order.lines", min_encoded_bytes::CART_LINE, Self::cart_line)?,
                idempotency_key: self.idempotency_key()?,
                channel: self.order_channel("coupon_order.channel")?,
            },
            command_tag::CANCEL_ORDER => Command::CancelOrder {
                shopper: ShopperId::new(self.u64("cancel_order.shopper")?),
                order: OrderId::new(self.u64("cancel_order.order")?),
            },
            command_tag::ADVANCE_ORDER => Command::AdvanceOrder {
                merchant: MerchantId::new(self.u64("advance_order.merchant")?),
                order: OrderId::new(self.u64("advance_order.order")?),
                event: self.order_event()?,
            },
            command_tag::TICK => Command::Tick,
            command_tag::DRAW_ALL_FROM_LEASES => Command::DrawAllFromLeases,
            command_tag::SETTLE_WEBHOOKS => {
                Command::SettleWebhooks { through: self.u64("settle_webhooks.through")? }
            }
            tag => return Err(self.unknown_tag("command", tag, tag_offset)),
        };
        Ok(command)
    }

    fn campaign_spec(&mut self) -> Result<CampaignSpec, DecodeError> {
        let name = self.string("create_campaign.name")?;
        let budget = self.money("create_campaign.budget")?;
        let template = self.coupon_template()?;
        let min_spend = self.money("create_campaign.min_spend")?;
        let merchants =
            self.vec("create_campaign.eligibility.merchants", min_encoded_bytes::ID, |reader| {
                reader.u64("create_campaign.eligibility.merchants").map(MerchantId::new)
            })?;
        let categories =
            self.vec("create_campaign.eligibility.categories", min_encoded_bytes::STRING, |reader| {
                reader.string("create_campaign.eligibility.categories")
            })?;
        let per_shopper_limit = self.byte("create_campaign.per_shopper_limit")?;
        let referral_bonus_cap = self.byte("create_campaign.referral_bonus_cap")?;
        let validity_offset = self.position;
        let starts_at = self.timestamp("create_campaign.validity.starts_at")?;
        let ends_at = self.timestamp("create_campaign.validity.ends_at")?;
        let validity = Validity::new(starts_at, ends_at)
            .map_err(|error| self.invalid(validity_offset, "create_campaign.validity", error))?;
        let pace = self.pace("create_campaign.pace")?;
        Ok(CampaignSpec {
            name,
            budget,
            template,
            min_spend,
            eligibility: Eligibility { merchants, categories },
            per_shopper_limit,
            referral_bonus_cap,
            validity,
            pace,
        })
    }

    fn coupon_template(&mut self) -> Result<CouponTemplate, DecodeError> {
        let (tag, offset) = self.tag("create_campaign.template")?;
        let template = match tag {
            template_tag::AMOUNT_OFF => {
                CouponTemplate::AmountOff { amount: self.money("create_campaign.template.amount")? }
            }
            template_tag::PERCENT_OFF => CouponTemplate::PercentOff {
                percent_bp: self.u32("create_campaign.template.percent_bp")?,
                cap: self.money("create_campaign.template.cap")?,
            },
            template_tag::FREE_ITEM => {
                CouponTemplate::FreeItem { up_to: self.money("create_campaign.template.up_to")? }
            }
            tag => return Err(self.unknown_tag("create_campaign.template", tag, offset)),
        };
        Ok(template)
    }

    fn pace(&mut self, what: &'static str) -> Result<IssuancePace, DecodeError> {
        let (tag, offset) = self.tag(what)?;
        let pace = match tag {
            pace_tag::UNLIMITED => IssuancePace::Unlimited,
            pace_tag::PER_SECOND => IssuancePace::PerSecond {
                coupons_per_s: self.u32("pace.coupons_per_s")?,
                burst: self.u32("pace.burst")?,
            },
            pace_tag::WAVES => {
                IssuancePace::Waves(self.vec("pace.waves", min_encoded_bytes::WAVE, |reader| {
                    Ok(Wave {
                        starts_at: reader.timestamp("pace.waves.starts_at")?,
                        coupons: reader.u64("pace.waves.coupons")?,
                    })
                })?)
            }
            tag => return Err(self.unknown_tag(what, tag, offset)),
        };
        Ok(pace)
    }

    fn campaign_edit(&mut self) -> Result<CampaignEdit, DecodeError> {
        let (tag, offset) = self.tag("edit_campaign.edit")?;
        let edit = match tag {
            edit_tag::SET_ENDS_AT => CampaignEdit::SetEndsAt(self.timestamp("edit_campaign.ends_at")?),
            edit_tag::SET_PACE => CampaignEdit::SetPace(self.pace("edit_campaign.pace")?),
            edit_tag::TOP_UP => CampaignEdit::TopUp(self.money("edit_campaign.top_up")?),
            edit_tag::PAUSE => CampaignEdit::Pause,
            edit_tag::RESUME => CampaignEdit::Resume,
            edit_tag::DRAW_FROM_LEASES => CampaignEdit::DrawFromLeases,
            edit_tag::LEASE_IN => CampaignEdit::LeaseIn(self.money("edit_campaign.lease_in")?),
            edit_tag::LEASE_OUT => CampaignEdit::LeaseOut(self.money("edit_campaign.lease_out")?),
            tag => return Err(self.unknown_tag("edit_campaign.edit", tag, offset)),
        };
        Ok(edit)
    }

    fn catalog(&mut self) -> Result<Catalog, DecodeError> {
        let start = self.position;
        let id = CatalogId::new(self.u64("publish_catalog.id")?);
        let items = self.vec("publish_catalog.items", min_encoded_bytes::ITEM, Self::item)?;
        // Catalog::new would sort unordered items, and the batch would then re-encode to other
        // bytes; the encoder always writes them in order, so anything else is damage.
        for pair in items.windows(2) {
            if pair[0].id >= pair[1].id {
                return Err(self.problem_at(
                    start,
                    CommandProblem::UnorderedItems {
                        what: "publish_catalog.items",
                        previous: pair[0].id.get(),
                        item: pair[1].id.get(),
                    },
                ));
            }
        }
        Catalog::new(id, items).map_err(|error| self.invalid(start, "publish_catalog", error))
    }

    fn item(&mut self) -> Result<Item, DecodeError> {
        Ok(Item {
            id: ItemId::new(self.u64("publish_catalog.item.id")?),
            name: self.string("publish_catalog.item.name")?,
            category: self.string("publish_catalog.item.category")?,
            price: self.money("publish_catalog.item.price")?,
            option_groups: self.vec(
                "publish_catalog.item.option_groups",
                min_encoded_bytes::OPTION_GROUP,
                Self::option_group,
            )?,
        })
    }

    fn option_group(&mut self) -> Result<OptionGroup, DecodeError> {
        let (tag, offset) = self.tag("publish_catalog.option_group.kind")?;
        let kind = match tag {
            option_kind_tag::SIZE => OptionKind::Size,
            option_kind_tag::SUGAR => OptionKind::Sugar,
            option_kind_tag::ICE => OptionKind::Ice,
            option_kind_tag::TOPPING => OptionKind::Topping,
            option_kind_tag::OTHER => OptionKind::Other,
            tag => return Err(self.unknown_tag("publish_catalog.option_group.kind", tag, offset)),
        };
        let name = self.string("publish_catalog.option_group.name")?;
        let choices =
            self.vec("publish_catalog.option_group.choices", min_encoded_bytes::ITEM_OPTION, |reader| {
                Ok(ItemOption {
                    id: OptionId::new(reader.u32("publish_catalog.option.id")?),
                    name: reader.string("publish_catalog.option.name")?,
                    price_delta: reader.money("publish_catalog.option.price_delta")?,
                })
            })?;
        let min_choices = self.byte("publish_catalog.option_group.min_choices")?;
        let max_choices = self.byte("publish_catalog.option_group.max_choices")?;
        let default_choice = if self.present("publish_catalog.option_group.default_choice")? {
            Some(OptionId::new(self.u32("publish_catalog.option_group.default_choice")?))
        } else {
            None
        };
        Ok(OptionGroup { kind, name, choices, min_choices, max_choices, default_choice })
    }

    fn merchant(&mut self) -> Result<Merchant, DecodeError> {
        let start = self.position;
        let id = MerchantId::new(self.u64("register_merchant.id")?);
        let name = self.string("register_merchant.name")?;
        let catalog = CatalogId::new(self.u64("register_merchant.catalog")?);
        let status = self.merchant_status("register_merchant.status")?;
        let capacity = self.capacity("register_merchant.capacity")?;
        let mut merchant = Merchant::new(id, name, catalog, capacity)
            .map_err(|error| self.invalid(start, "register_merchant", error))?;
        merchant.status = status;
        if self.version >= LOCATION_FORMAT_VERSION && self.present("register_merchant.location")? {
            let offset = self.position;
            let degrees = |value: u64| i32::try_from(unzigzag(value)).unwrap_or(i32::MAX);
            let lat_e6 = degrees(self.u64("register_merchant.location")?);
            let lon_e6 = degrees(self.u64("register_merchant.location")?);
            let location = GeoPoint::new(lat_e6, lon_e6)
                .map_err(|error| self.invalid(offset, "register_merchant.location", error))?;
            merchant = merchant.with_location(location);
        }
        if self.version >= ADDRESS_FORMAT_VERSION && self.present("register_merchant.address")? {
            let offset = self.position;
            let line_one = self.string("register_merchant.address")?;
            let city = self.string("register_merchant.address")?;
            let state = self.string("register_merchant.address")?;
            let country = self.string("register_merchant.address")?;
            let postal_code = self.string("register_merchant.address")?;
            let address = Address::new(line_one, city, state, country, postal_code)
                .map_err(|error| self.invalid(offset, "register_merchant.address", error))?;
            merchant = merchant.with_address(address);
        }
        Ok(merchant)
    }

    fn merchant_status(&mut self, what: &'static str) -> Result<MerchantStatus, DecodeError> {
        let (tag, offset) = self.tag(what)?;
        match tag {
            merchant_status_tag::OPEN => Ok(MerchantStatus::Open),
            merchant_status_tag::BUSY => Ok(MerchantStatus::Busy),
            merchant_status_tag::PAUSED => Ok(MerchantStatus::Paused),
            tag => Err(self.unknown_tag(what, tag, offset)),
        }
    }

    fn capacity(&mut self, what: &'static str) -> Result<Capacity, DecodeError> {
        let start = self.position;
        let orders_per_minute = self.u32(what)?;
        let open_orders_max = self.u32(what)?;
        Capacity::new(orders_per_minute, open_orders_max).map_err(|error| self.invalid(start, what, error))
    }

    fn cart_line(&mut self) -> Result<CartLine, DecodeError> {
        Ok(CartLine {
            item: ItemId::new(self.u64("quote.line.item")?),
            quantity: self.u16("quote.line.quantity")?,
            options: self.vec("quote.line.options", min_encoded_bytes::ID, |reader| {
                reader.u32("quote.line.options").map(OptionId::new)
            })?,
        })
    }

    fn coupon_choice(&mut self) -> Result<CouponChoice, DecodeError> {
        let (tag, offset) = self.tag("quote.coupon")?;
        match tag {
            coupon_choice_tag::BEST => Ok(CouponChoice::Best),
            coupon_choice_tag::CAMPAIGN => {
                Ok(CouponChoice::Campaign(CampaignId::new(self.u64("quote.coupon")?)))
            }
            coupon_choice_tag::NONE => Ok(CouponChoice::None),
            tag => Err(self.unknown_tag("quote.coupon", tag, offset)),
        }
    }

    fn idempotency_key(&mut self) -> Result<IdempotencyKey, DecodeError> {
        let start = self.position;
        let key = self.string("place_order.idempotency_key")?;
        IdempotencyKey::new(key).map_err(|error| self.invalid(start, "place_order.idempotency_key", error))
    }

    /// Where an order came from; version 1 knew only the API.
    fn order_channel(&mut self, what: &'static str) -> Result<OrderChannel, DecodeError> {
        if self.version < CHANNEL_FORMAT_VERSION {
            return Ok(OrderChannel::Api);
        }
        let (tag, offset) = self.tag(what)?;
        match tag {
            order_channel_tag::API => Ok(OrderChannel::Api),
            order_channel_tag::CHAT => Ok(OrderChannel::Chat),
            order_channel_tag::ACP => Ok(OrderChannel::Acp),
            tag => Err(self.unknown_tag(what, tag, offset)),
        }
    }

    fn order_event(&mut self) -> Result<OrderEvent, DecodeError> {
        let (tag, offset) = self.tag("advance_order.event")?;
        match tag {
            order_event_tag::ACCEPT => Ok(OrderEvent::Accept),
            order_event_tag::REJECT => Ok(OrderEvent::Reject),
            order_event_tag::READY => Ok(OrderEvent::Ready),
            order_event_tag::DISPATCH => Ok(OrderEvent::Dispatch),
            order_event_tag::DELIVER => Ok(OrderEvent::Deliver),
            order_event_tag::CANCEL => Ok(OrderEvent::Cancel),
            tag => Err(self.unknown_tag("advance_order.event", tag, offset)),
        }
    }
}

/// The inverse of [`zigzag`].
const fn unzigzag(raw: u64) -> i64 {
    ((raw >> 1) as i64) ^ -((raw & 1) as i64)
}

// Keeps the two halves of the zigzag mapping next to each other in the compiler's eyes: a
// change to one that breaks the other fails to build.
const _: () = assert!(unzigzag(zigzag(i64::MIN)) == i64::MIN && unzigzag(zigzag(-3)) == -3);

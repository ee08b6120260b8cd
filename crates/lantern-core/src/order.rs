//! The order state machine.

/// Where an order is.
///
/// ```text
/// Placed ─accept─► Accepted ─ready─► Ready ─dispatch─► Delivering ─deliver─► Delivered
///   │ │              │                 └────────────deliver (pickup)──────────┘
///   │ └──reject──────┴──reject──► Rejected
///   └──cancel──► Cancelled
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum OrderStatus {
    Placed,
    Accepted,
    Ready,
    Delivering,
    Delivered,
    Rejected,
    Cancelled,
}

/// Something that happens to an order.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum OrderEvent {
    Accept,
    Reject,
    Ready,
    Dispatch,
    Deliver,
    Cancel,
}

/// Where an order was placed from: kept with the order, so what follows it (the Agentic Commerce
/// Protocol's order webhooks) can be picked up again from the journal after a restart.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum OrderChannel {
    /// Lantern's own API (`/v1/...`), the web pages and the surge's shoppers.
    #[default]
    Api,
    /// The shopping agent's chat (`/v1/chat`, `lantern chat`).
    Chat,
    /// An Agentic Commerce Protocol checkout (`/checkout_sessions`, the MCP tools): its changes
    /// are sent to the platform's order webhook.
    Acp,
}

impl OrderChannel {
    pub const ALL: [OrderChannel; 3] = [OrderChannel::Api, OrderChannel::Chat, OrderChannel::Acp];

    /// Its place in [`OrderChannel::ALL`].
    pub const fn index(self) -> usize {
        self as usize
    }

    pub const fn as_str(self) -> &'static str {
        match self {
            OrderChannel::Api => "api",
            OrderChannel::Chat => "chat",
            OrderChannel::Acp => "acp",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("an order that is {} cannot be {}", from.as_str(), event.past_tense())]
pub struct OrderTransitionError {
    pub from: OrderStatus,
    pub event: OrderEvent,
}

impl OrderEvent {
    pub const fn past_tense(self) -> &'static str {
        match self {
            OrderEvent::Accept => "accepted",
            OrderEvent::Reject => "rejected",
            OrderEvent::Ready => "marked ready",
            OrderEvent::Dispatch => "dispatched",
            OrderEvent::Deliver => "delivered",
            OrderEvent::Cancel => "cancelled",
        }
    }
}

impl OrderStatus {
    pub const fn as_str(self) -> &'static str {
        match self {
            OrderStatus::Placed => "placed",
            OrderStatus::Accepted => "accepted",
            OrderStatus::Ready => "ready",
            OrderStatus::Delivering => "delivering",
            OrderStatus::Delivered => "delivered",
            OrderStatus::Rejected => "rejected",
            OrderStatus::Cancelled => "cancelled",
        }
    }

    /// Open orders count against the merchant's backlog.
    pub const fn is_open(self) -> bool {
        matches!(
            self,
            OrderStatus::Placed | OrderStatus::Accepted | OrderStatus::Ready | OrderStatus::Delivering
        )
    }

    pub fn apply(self, event: OrderEvent) -> Result<OrderStatus, OrderTransitionError> {
        use OrderEvent as E;
        use OrderStatus as S;
        let next = match (self, event) {
            (S::Placed, E::Accept) => S::Accepted,
            (S::Placed | S::Accepted, E::Reject) => S::Rejected,
            (S::Accepted, E::Ready) => S::Ready,
            (S::Ready, E::Dispatch) => S::Delivering,
            (S::Ready | S::Delivering, E::Deliver) => S::Delivered,
            // Once the shop has accepted, the drink is being made: only the shop can reject it.
            (S::Placed, E::Cancel) => S::Cancelled,
            _ => return Err(OrderTransitionError { from: self, event }),
        };
        Ok(next)
    }
}

#[cfg(test)]
mod tests {
    use super::{OrderEvent as E, OrderStatus as S};

    #[test]
    fn happy_path_and_refusals() {
        let delivered = S::Placed
            .apply(E::Accept)
            .and_then(|status| status.apply(E::Ready))
            .and_then(|status| status.apply(E::Dispatch))
            .and_then(|status| status.apply(E::Deliver));
        assert_eq!(delivered, Ok(S::Delivered));
        assert_eq!(S::Placed.apply(E::Cancel), Ok(S::Cancelled));
        assert!(S::Accepted.apply(E::Cancel).is_err());
        assert!(S::Delivered.apply(E::Reject).is_err());
        assert!(S::Cancelled.apply(E::Accept).is_err());
        assert!(S::Placed.apply(E::Ready).is_err());
        let error = S::Delivered.apply(E::Cancel).err().map(|error| error.to_string());
        assert_eq!(error.as_deref(), Some("an order that is delivered cannot be cancelled"));
    }

    #[test]
    fn only_unfinished_orders_are_open() {
        assert!(S::Placed.is_open() && S::Delivering.is_open());
        assert!(!S::Delivered.is_open() && !S::Rejected.is_open() && !S::Cancelled.is_open());
    }
}

//! Priority classes of requests.

/// Priority classes, highest first. Under load the lowest class is shed first: a class is admitted
/// only while the busy slots are below its share of the limit (`class_share_permille`), and a
/// waiting ticket is promoted only when no ticket of a higher class is waiting.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Class {
    /// Paying for a confirmed checkout: the money step, shed last.
    CompleteCheckout,
    /// Building and quoting a checkout.
    Checkout,
    /// Claiming a coupon.
    Claim,
    /// Catalog and order-status reads.
    Browse,
    /// The conversational agent, the most expensive per request: shed first.
    Chat,
}

/// Number of classes, for per-class arrays.
pub const CLASS_COUNT: usize = 5;

impl Class {
    /// Every class, highest priority first; `ALL[c.index()] == c`.
    pub const ALL: [Class; CLASS_COUNT] =
        [Class::CompleteCheckout, Class::Checkout, Class::Claim, Class::Browse, Class::Chat];

    pub const fn as_str(self) -> &'static str {
        match self {
            Class::CompleteCheckout => "complete_checkout",
            Class::Checkout => "checkout",
            Class::Claim => "claim",
            Class::Browse => "browse",
            Class::Chat => "chat",
        }
    }

    /// The inverse of [`Class::as_str`]; `None` for anything else.
    pub fn parse(name: &str) -> Option<Class> {
        Class::ALL.into_iter().find(|class| class.as_str() == name)
    }

    /// Position in [`Class::ALL`], 0 for the highest class: the index of per-class arrays.
    pub const fn index(self) -> usize {
        match self {
            Class::CompleteCheckout => 0,
            Class::Checkout => 1,
            Class::Claim => 2,
            Class::Browse => 3,
            Class::Chat => 4,
        }
    }
}

impl std::fmt::Display for Class {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_and_indexes_round_trip() {
        for (class_idx, class) in Class::ALL.into_iter().enumerate() {
            assert_eq!(class.index(), class_idx);
            assert_eq!(Class::parse(class.as_str()), Some(class));
        }
        assert_eq!(Class::parse("Chat"), None);
        assert_eq!(Class::parse(""), None);
        // Ord follows priority: the highest class is the smallest.
        assert!(Class::CompleteCheckout < Class::Chat);
    }
}

//! Merchants (outlets), their status and declared capacity.

use crate::ids::{CatalogId, MerchantId};

/// Whether a shop takes new orders.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum MerchantStatus {
    /// Taking orders, up to its capacity.
    Open,
    /// The kitchen is full: new orders are refused with an ETA until it is set open again.
    Busy,
    /// Closed to new orders (out of cups, end of day); open orders still proceed.
    Paused,
}

impl MerchantStatus {
    pub const fn as_str(self) -> &'static str {
        match self {
            MerchantStatus::Open => "open",
            MerchantStatus::Busy => "busy",
            MerchantStatus::Paused => "paused",
        }
    }
}

/// Upper bound of a shop's declared orders per minute.
pub const ORDERS_PER_MINUTE_MAX: u32 = 100_000;
/// Upper bound of a shop's declared open-order backlog.
pub const OPEN_ORDERS_MAX: u32 = 1_000_000;
/// Longest merchant name, in characters.
pub const MERCHANT_NAME_CHARS_MAX: usize = 200;
/// Longest field of a shop's address, in characters.
pub const ADDRESS_FIELD_CHARS_MAX: usize = 128;

/// What a shop says it can make: a rate and a backlog. Orders past either are refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Capacity {
    orders_per_minute: u32,
    open_orders_max: u32,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MerchantError {
    #[error("capacity orders_per_minute must be 1..={ORDERS_PER_MINUTE_MAX}, got {0}")]
    OrdersPerMinute(u32),
    #[error("capacity open_orders_max must be 1..={OPEN_ORDERS_MAX}, got {0}")]
    OpenOrders(u32),
    #[error("merchant name must be 1..={MERCHANT_NAME_CHARS_MAX} characters")]
    Name,
    #[error("a location's latitude must be -90..=90 and its longitude -180..=180 degrees")]
    Location,
    #[error("address {field} {rule}")]
    Address { field: &'static str, rule: &'static str },
}

/// Where a shopper picks an order up: the fields of the Agentic Commerce Protocol's `Address`
/// (whose `name` is the shop's own). Every field is 1..=[`ADDRESS_FIELD_CHARS_MAX`] characters
/// without control characters; `country` is an ISO 3166-1 alpha-2 code (`CN`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Address {
    line_one: String,
    city: String,
    state: String,
    country: String,
    postal_code: String,
}

impl Address {
    pub fn new(
        line_one: impl Into<String>,
        city: impl Into<String>,
        state: impl Into<String>,
        country: impl Into<String>,
        postal_code: impl Into<String>,
    ) -> Result<Address, MerchantError> {
        let checked = |field: &'static str, text: String| {
            let n_chars = text.chars().count();
            if n_chars == 0 || n_chars > ADDRESS_FIELD_CHARS_MAX || text.chars().any(char::is_control) {
                return Err(MerchantError::Address {
                    field,
                    rule: "must be 1..=128 characters without control characters",
                });
            }
            Ok(text)
        };
        let country = checked("country", country.into())?;
        if !(country.len() == 2 && country.bytes().all(|byte| byte.is_ascii_uppercase())) {
            return Err(MerchantError::Address {
                field: "country",
                rule: "must be an ISO 3166-1 alpha-2 code in capitals, such as CN",
            });
        }
        Ok(Address {
            line_one: checked("line_one", line_one.into())?,
            city: checked("city", city.into())?,
            state: checked("state", state.into())?,
            country,
            postal_code: checked("postal_code", postal_code.into())?,
        })
    }

    pub fn line_one(&self) -> &str {
        &self.line_one
    }

    pub fn city(&self) -> &str {
        &self.city
    }

    /// The state or province.
    pub fn state(&self) -> &str {
        &self.state
    }

    pub fn country(&self) -> &str {
        &self.country
    }

    pub fn postal_code(&self) -> &str {
        &self.postal_code
    }
}

/// Where a shop is: micro-degrees of latitude and longitude (WGS 84), whole numbers so that a
/// location journals and compares exactly (a micro-degree is about 11 cm).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct GeoPoint {
    lat_e6: i32,
    lon_e6: i32,
}

/// Mean Earth radius, for distances between shops.
const EARTH_RADIUS_M: f64 = 6_371_008.8;

#[allow(clippy::float_arithmetic, reason = "degrees and metres on the map, never money")]
impl GeoPoint {
    pub fn new(lat_e6: i32, lon_e6: i32) -> Result<GeoPoint, MerchantError> {
        if !(-90_000_000..=90_000_000).contains(&lat_e6) || !(-180_000_000..=180_000_000).contains(&lon_e6) {
            return Err(MerchantError::Location);
        }
        Ok(GeoPoint { lat_e6, lon_e6 })
    }

    /// From decimal degrees, rounded to the micro-degree.
    pub fn from_degrees(lat: f64, lon: f64) -> Result<GeoPoint, MerchantError> {
        if !lat.is_finite() || !lon.is_finite() || lat.abs() > 90.0 || lon.abs() > 180.0 {
            return Err(MerchantError::Location);
        }
        GeoPoint::new((lat * 1e6).round() as i32, (lon * 1e6).round() as i32)
    }

    pub const fn lat_e6(self) -> i32 {
        self.lat_e6
    }

    pub const fn lon_e6(self) -> i32 {
        self.lon_e6
    }

    pub fn lat(self) -> f64 {
        f64::from(self.lat_e6) / 1e6
    }

    pub fn lon(self) -> f64 {
        f64::from(self.lon_e6) / 1e6
    }

    /// Great-circle distance in metres (haversine), rounded down.
    pub fn distance_m(self, other: GeoPoint) -> u32 {
        let (lat1, lat2) = (self.lat().to_radians(), other.lat().to_radians());
        let d_lat = lat2 - lat1;
        let d_lon = (other.lon() - self.lon()).to_radians();
        let a = (d_lat / 2.0).sin().powi(2) + lat1.cos() * lat2.cos() * (d_lon / 2.0).sin().powi(2);
        let metres = 2.0 * EARTH_RADIUS_M * a.sqrt().min(1.0).asin();
        metres as u32
    }
}

impl Capacity {
    pub fn new(orders_per_minute: u32, open_orders_max: u32) -> Result<Capacity, MerchantError> {
        if !(1..=ORDERS_PER_MINUTE_MAX).contains(&orders_per_minute) {
            return Err(MerchantError::OrdersPerMinute(orders_per_minute));
        }
        if !(1..=OPEN_ORDERS_MAX).contains(&open_orders_max) {
            return Err(MerchantError::OpenOrders(open_orders_max));
        }
        Ok(Capacity { orders_per_minute, open_orders_max })
    }

    pub const fn orders_per_minute(self) -> u32 {
        self.orders_per_minute
    }

    pub const fn open_orders_max(self) -> u32 {
        self.open_orders_max
    }

    /// Honest wait for a new order given the current backlog: the backlog drains at the declared
    /// rate, so a new order waits for everything ahead of it plus its own minute slot.
    pub fn eta_ms(self, open_orders: u32) -> u64 {
        let minutes_x1000 = (u64::from(open_orders) + 1) * 60_000;
        minutes_x1000.div_ceil(u64::from(self.orders_per_minute))
    }
}

/// A shop: one outlet, with the catalog (menu) it sells from.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Merchant {
    pub id: MerchantId,
    name: String,
    pub catalog: CatalogId,
    pub status: MerchantStatus,
    pub capacity: Capacity,
    /// Where the shop is, when it said: busy answers then offer faster shops near it.
    pub location: Option<GeoPoint>,
    /// Its street address, when it gave one: agents are then offered pickup there. Boxed, as
    /// most of a surge's outlets have none and a merchant is kept for every outlet.
    pub address: Option<Box<Address>>,
}

impl Merchant {
    pub fn new(
        id: MerchantId,
        name: impl Into<String>,
        catalog: CatalogId,
        capacity: Capacity,
    ) -> Result<Merchant, MerchantError> {
        let name = name.into();
        let n_chars = name.chars().count();
        if n_chars == 0 || n_chars > MERCHANT_NAME_CHARS_MAX {
            return Err(MerchantError::Name);
        }
        Ok(Merchant {
            id,
            name,
            catalog,
            status: MerchantStatus::Open,
            capacity,
            location: None,
            address: None,
        })
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    /// The shop at `location`.
    #[must_use]
    pub fn with_location(mut self, location: GeoPoint) -> Merchant {
        self.location = Some(location);
        self
    }

    /// The shop at `address`.
    #[must_use]
    pub fn with_address(mut self, address: Address) -> Merchant {
        self.address = Some(Box::new(address));
        self
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn capacity_is_checked() {
        assert!(Capacity::new(0, 10).is_err());
        assert!(Capacity::new(10, 0).is_err());
        assert!(Capacity::new(ORDERS_PER_MINUTE_MAX + 1, 10).is_err());
        assert!(Capacity::new(10, 10).is_ok());
    }

    #[test]
    fn locations_are_checked_and_distances_are_great_circle_metres() {
        assert!(GeoPoint::new(90_000_001, 0).is_err());
        assert!(GeoPoint::new(0, -180_000_001).is_err());
        assert!(GeoPoint::from_degrees(f64::NAN, 0.0).is_err());
        let point = |lat, lon| GeoPoint::from_degrees(lat, lon).unwrap_or_else(|error| panic!("{error}"));
        // Two shops on Huangxing Road, Changsha, and the Bund in Shanghai.
        let wuyi = point(28.195_726, 112.977_310);
        let huangxing = point(28.190_600, 112.977_400);
        let bund = point(31.240_000, 121.490_000);
        assert_eq!(wuyi.lat_e6(), 28_195_726);
        assert!((565..=575).contains(&wuyi.distance_m(huangxing)), "{}", wuyi.distance_m(huangxing));
        assert_eq!(wuyi.distance_m(huangxing), huangxing.distance_m(wuyi));
        assert_eq!(wuyi.distance_m(wuyi), 0);
        // About 900 km (a great circle, not the road).
        assert!((880_000..=920_000).contains(&wuyi.distance_m(bund)), "{}", wuyi.distance_m(bund));
    }

    #[test]
    fn addresses_are_checked_field_by_field() {
        let address =
            |country: &str, city: &str| Address::new("五一大道 389号", city, "湖南省", country, "410011");
        let good = address("CN", "长沙市").unwrap_or_else(|error| panic!("{error}"));
        assert_eq!((good.city(), good.country(), good.postal_code()), ("长沙市", "CN", "410011"));
        for (country, city, field) in [
            ("cn", "长沙市", "country"),
            ("CHN", "长沙市", "country"),
            ("CN", "", "city"),
            ("CN", "长沙\n市", "city"),
        ] {
            match address(country, city) {
                Err(MerchantError::Address { field: named, .. }) => {
                    assert_eq!(named, field, "{country} {city:?}")
                }
                other => panic!("{country} {city:?}: {other:?}"),
            }
        }
        let long = "路".repeat(ADDRESS_FIELD_CHARS_MAX + 1);
        assert!(Address::new(long, "长沙市", "湖南省", "CN", "410011").is_err());
    }

    #[test]
    fn eta_counts_the_backlog_at_the_declared_rate() {
        let capacity = Capacity::new(2, 50).unwrap_or_else(|error| panic!("{error}"));
        // 49 orders ahead plus this one at 2 per minute: 25 minutes.
        assert_eq!(capacity.eta_ms(49), 25 * 60_000);
        assert_eq!(capacity.eta_ms(0), 30_000);
    }
}

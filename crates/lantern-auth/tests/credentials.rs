//! Round trips, tampering, expiry, kind confusion, foreign secrets, bearer headers and fuzzing.

use lantern_auth::{
    ADMISSION_CLASSES, AuthError, CLOCK_SKEW_MS_MAX, CREDENTIAL_BYTES_MAX, Claims, Role, SECRET_BYTES_MIN,
    SignedTicket, Signer, parse_bearer,
};
use lantern_core::{MerchantId, ShopperId, Timestamp};
use proptest::prelude::*;

const FEB_10_2026_MS: u64 = 1_770_681_600_000;
const HOUR_MS: u64 = 3_600_000;

fn signer(fill: u8) -> Signer {
    Signer::new(&[fill; SECRET_BYTES_MIN]).unwrap_or_else(|error| panic!("{error}"))
}

fn claims(role: Role) -> Claims {
    let issued_at = Timestamp::from_ms(FEB_10_2026_MS);
    Claims { role, issued_at, expires_at: issued_at.plus_ms(HOUR_MS) }
}

fn ticket(shopper: Option<ShopperId>) -> SignedTicket {
    let issued_at = Timestamp::from_ms(FEB_10_2026_MS);
    SignedTicket { shopper, class: 2, seq: 1_234_567, issued_at, expires_at: issued_at.plus_ms(HOUR_MS) }
}

fn during() -> Timestamp {
    Timestamp::from_ms(FEB_10_2026_MS + 60_000)
}

const ROLES: [Role; 4] = [
    Role::Shopper(ShopperId::new(42)),
    Role::Merchant(MerchantId::new(7)),
    Role::Operator,
    Role::Shopper(ShopperId::new(u64::MAX)),
];

#[test]
fn tokens_round_trip_for_every_role() {
    let signer = signer(1);
    for role in ROLES {
        let token = signer.issue_token(&claims(role));
        assert!(token.starts_with("lt1."), "{token}");
        assert!(token.len() < 100, "{token} is longer than expected");
        assert_eq!(signer.verify_token(&token, during()), Ok(claims(role)));
        // Issuing is deterministic: one claims value, one token.
        assert_eq!(signer.issue_token(&claims(role)), token);
    }
}

#[test]
fn tickets_round_trip_with_and_without_shopper() {
    let signer = signer(1);
    for shopper in [None, Some(ShopperId::new(42))] {
        for class in 0..ADMISSION_CLASSES {
            let ticket = SignedTicket { class, ..ticket(shopper) };
            let text = signer.issue_ticket(&ticket);
            assert!(text.starts_with("lw1."), "{text}");
            assert_eq!(signer.verify_ticket(&text, during()), Ok(ticket));
        }
    }
}

#[test]
fn roles_print_with_lantern_id_prefixes() {
    assert_eq!(Role::Shopper(ShopperId::new(42)).to_string(), "shopper shp_42");
    assert_eq!(Role::Merchant(MerchantId::new(7)).to_string(), "merchant mer_7");
    assert_eq!(Role::Operator.to_string(), "operator");
}

#[test]
fn changing_any_single_byte_fails() {
    let signer = signer(1);
    let token = signer.issue_token(&claims(Role::Merchant(MerchantId::new(7))));
    let ticket = signer.issue_ticket(&ticket(Some(ShopperId::new(42))));
    for original in [&token, &ticket] {
        for index in 0..original.len() {
            for replacement in [b'A', b'_', b'.', b'z'] {
                let mut bytes = original.clone().into_bytes();
                if bytes[index] == replacement {
                    continue;
                }
                bytes[index] = replacement;
                let altered = String::from_utf8(bytes).unwrap_or_default();
                assert!(signer.verify_token(&altered, during()).is_err(), "{altered} verified as a token");
                assert!(signer.verify_ticket(&altered, during()).is_err(), "{altered} verified as a ticket");
            }
        }
    }
}

#[test]
fn altered_payload_is_a_bad_signature() {
    let signer = signer(1);
    let token = signer.issue_token(&claims(Role::Operator));
    // Flip one character inside the payload, keeping it valid base64url.
    let mut bytes = token.into_bytes();
    bytes[6] = if bytes[6] == b'A' { b'B' } else { b'A' };
    let altered = String::from_utf8(bytes).unwrap_or_default();
    let error = signer.verify_token(&altered, during());
    assert_eq!(error, Err(AuthError::BadSignature));
    assert_eq!(AuthError::BadSignature.code(), "token_bad_signature");
}

#[test]
fn expiry_and_not_yet_valid() {
    let signer = signer(1);
    let claims = claims(Role::Shopper(ShopperId::new(42)));
    let token = signer.issue_token(&claims);
    let expired = signer.verify_token(&token, claims.expires_at);
    assert_eq!(expired, Err(AuthError::Expired { expired_at: claims.expires_at }));
    assert_eq!(expired.as_ref().map_err(AuthError::code), Err("token_expired"));
    assert!(
        expired.err().map(|error| error.to_string()).unwrap_or_default().contains("2026-02-10T01:00:00.000Z")
    );

    let last_valid = Timestamp::from_ms(claims.expires_at.unix_ms() - 1);
    assert_eq!(signer.verify_token(&token, last_valid), Ok(claims));

    // A verifier whose clock is a little behind the issuer's still accepts the token.
    let slightly_behind = Timestamp::from_ms(claims.issued_at.unix_ms() - CLOCK_SKEW_MS_MAX);
    assert_eq!(signer.verify_token(&token, slightly_behind), Ok(claims));
    let far_behind = Timestamp::from_ms(claims.issued_at.unix_ms() - CLOCK_SKEW_MS_MAX - 1);
    assert_eq!(signer.verify_token(&token, far_behind), Err(AuthError::NotYetValid));
    assert_eq!(AuthError::NotYetValid.code(), "token_not_yet_valid");

    let ticket = ticket(None);
    let text = signer.issue_ticket(&ticket);
    assert_eq!(
        signer.verify_ticket(&text, ticket.expires_at),
        Err(AuthError::Expired { expired_at: ticket.expires_at })
    );
}

#[test]
fn a_ticket_is_not_a_token_and_a_token_is_not_a_ticket() {
    let signer = signer(1);
    let ticket = signer.issue_ticket(&ticket(Some(ShopperId::new(42))));
    let token = signer.issue_token(&claims(Role::Shopper(ShopperId::new(42))));
    assert_eq!(signer.verify_token(&ticket, during()), Err(AuthError::WrongKind));
    assert_eq!(signer.verify_ticket(&token, during()), Err(AuthError::WrongKind));
    assert_eq!(AuthError::WrongKind.code(), "token_wrong_kind");

    // Relabelling a ticket as a token does not help: the token key did not sign it.
    let relabelled = ticket.replacen("lw1.", "lt1.", 1);
    assert_eq!(signer.verify_token(&relabelled, during()), Err(AuthError::BadSignature));
}

#[test]
fn another_secret_does_not_verify() {
    let token = signer(1).issue_token(&claims(Role::Operator));
    let ticket = signer(1).issue_ticket(&ticket(None));
    assert_eq!(signer(2).verify_token(&token, during()), Err(AuthError::BadSignature));
    assert_eq!(signer(2).verify_ticket(&ticket, during()), Err(AuthError::BadSignature));
}

#[test]
fn short_secrets_are_refused_with_a_recipe() {
    let error = Signer::new(&[0; SECRET_BYTES_MIN - 1]).err();
    assert_eq!(error, Some(AuthError::SecretTooShort { length_bytes: SECRET_BYTES_MIN - 1 }));
    let message = error.map(|error| error.to_string()).unwrap_or_default();
    assert!(message.contains("head -c 32 /dev/urandom | base64"), "{message}");
    assert!(Signer::new(&[0; 1024]).is_ok());
}

#[test]
fn debug_never_prints_the_key() {
    let printed = format!("{:?}", signer(0xAB));
    assert_eq!(printed, "Signer { .. }");
}

#[test]
fn malformed_credentials_say_why() {
    let signer = signer(1);
    let cases = [
        "",
        "lt1.",
        "lt1.abc",
        "lt1..",
        "lt2.abc.def",
        "Bearer lt1.abc.def",
        "lt1.abc.!!!",
        "lt1.abc.AAAA",
        &"x".repeat(CREDENTIAL_BYTES_MAX + 1),
    ];
    for case in cases {
        let error = signer.verify_token(case, during());
        assert!(matches!(error, Err(AuthError::Malformed { .. })), "{case:?}: {error:?}");
        assert_eq!(error.map_err(|error| error.code()), Err("token_malformed"));
    }
    let too_long = format!("lt1.{}", "A".repeat(CREDENTIAL_BYTES_MAX));
    assert_eq!(
        signer.verify_token(&too_long, during()),
        Err(AuthError::Malformed { reason: "it is longer than 512 bytes" })
    );
}

#[test]
fn bearer_headers() {
    assert_eq!(parse_bearer("Bearer lt1.a.b"), Ok("lt1.a.b"));
    assert_eq!(parse_bearer("  bearer \t lt1.a.b  "), Ok("lt1.a.b"));
    assert_eq!(parse_bearer("BEARER lt1.a.b"), Ok("lt1.a.b"));
    for bad in ["", "Bearer", "Bearer   ", "Basic dXNlcjpwYXNz", "lt1.a.b", "Bearer a b", "Bearerlt1.a.b"] {
        assert!(matches!(parse_bearer(bad), Err(AuthError::Malformed { .. })), "{bad:?} was accepted");
    }
    let long = format!("Bearer {}", "a".repeat(CREDENTIAL_BYTES_MAX + 1));
    assert!(parse_bearer(&long).is_err());
}

#[test]
fn a_ticket_with_an_unknown_class_never_verifies() {
    let signer = signer(1);
    let text = signer.issue_ticket(&SignedTicket { class: ADMISSION_CLASSES, ..ticket(None) });
    assert!(matches!(signer.verify_ticket(&text, during()), Err(AuthError::Malformed { .. })));
}

fn any_role() -> impl Strategy<Value = Role> {
    prop_oneof![
        any::<u64>().prop_map(|raw| Role::Shopper(ShopperId::new(raw))),
        any::<u64>().prop_map(|raw| Role::Merchant(MerchantId::new(raw))),
        Just(Role::Operator),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

    #[test]
    fn random_strings_never_panic_and_never_verify(text in any::<String>()) {
        let signer = signer(1);
        prop_assert!(signer.verify_token(&text, during()).is_err());
        prop_assert!(signer.verify_ticket(&text, during()).is_err());
        let _ = parse_bearer(&text);
    }

    #[test]
    fn random_well_shaped_strings_never_verify(
        prefix in prop::sample::select(vec!["lt1.", "lw1."]),
        payload in "[A-Za-z0-9_-]{0,60}",
        tag in "[A-Za-z0-9_-]{0,60}",
    ) {
        let text = format!("{prefix}{payload}.{tag}");
        let signer = signer(1);
        prop_assert!(signer.verify_token(&text, during()).is_err());
        prop_assert!(signer.verify_ticket(&text, during()).is_err());
    }

    #[test]
    fn any_claims_round_trip(role in any_role(), issued_ms in any::<u64>(), lifetime_ms in 1..u64::MAX) {
        let signer = signer(3);
        let issued_at = Timestamp::from_ms(issued_ms);
        let claims = Claims { role, issued_at, expires_at: issued_at.plus_ms(lifetime_ms) };
        prop_assume!(claims.expires_at > issued_at);
        let token = signer.issue_token(&claims);
        prop_assert_eq!(signer.verify_token(&token, issued_at), Ok(claims));
        prop_assert!(token.len() <= CREDENTIAL_BYTES_MAX);
    }

    #[test]
    fn any_ticket_round_trips(
        shopper in prop::option::of(any::<u64>()),
        class in 0..ADMISSION_CLASSES,
        seq in any::<u64>(),
        issued_ms in 0..u64::MAX - 1,
    ) {
        let signer = signer(3);
        let issued_at = Timestamp::from_ms(issued_ms);
        let ticket = SignedTicket {
            shopper: shopper.map(ShopperId::new),
            class,
            seq,
            issued_at,
            expires_at: issued_at.plus_ms(1),
        };
        prop_assert_eq!(signer.verify_ticket(&signer.issue_ticket(&ticket), issued_at), Ok(ticket));
    }
}

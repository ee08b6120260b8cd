//! Our own order set: every order must give exactly its cart.

use lantern_nlu::orders::{DEMO_MERCHANT, ORDER_CASES, demo_lexicon, demo_menu, evaluate_orders};

#[test]
fn the_order_set_parses_to_exact_carts() {
    let menu = demo_menu().unwrap_or_else(|error| panic!("{error}"));
    let lexicon = demo_lexicon().unwrap_or_else(|error| panic!("{error}"));
    let report = evaluate_orders(&lexicon, DEMO_MERCHANT, &menu, ORDER_CASES)
        .unwrap_or_else(|error| panic!("{error}"));
    for miss in &report.misses {
        eprintln!(
            "MISS {:?} intent={:?}\n  expected {:?}\n  got      {:?}",
            miss.text, miss.intent, miss.expected, miss.got
        );
    }
    eprintln!("exact {}/{}", report.exact, report.total);
    assert!(report.exact_per_mille >= 900, "exact carts: {}/{}", report.exact, report.total);
}

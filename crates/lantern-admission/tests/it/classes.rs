//! Priority classes: lower classes are shed first, and nobody jumps the queue of their class.

use lantern_admission::{Admission, Class, Decision, RETRY_AFTER_MS_MIN, ShedReason, TicketState};

use crate::support::{admit_permit, admit_ticket, busy, fixed_limit, position};

#[test]
fn with_the_limit_60_percent_full_chat_waits_or_is_shed_while_complete_checkout_gets_in() {
    for chat_capacity in [100, 0] {
        let mut config = fixed_limit(100);
        config.waiting_room_capacity[Class::Chat.index()] = chat_capacity;
        let mut admission = Admission::new(config);
        for _ in 0..60 {
            admit_permit(&mut admission, Class::Browse, 0);
        }
        assert_eq!(busy(&admission), 60);
        match admission.admit(Class::Chat, 0) {
            Decision::Wait { position, .. } => assert_eq!((chat_capacity, position), (100, 1)),
            Decision::Shed { reason, retry_after_ms } => {
                assert_eq!((chat_capacity, reason), (0, ShedReason::WaitingRoomFull));
                assert!(retry_after_ms >= RETRY_AFTER_MS_MIN);
            }
            Decision::Admit(permit) => panic!("chat admitted at 60 % busy: {permit:?}"),
        }
        let permit = admit_permit(&mut admission, Class::CompleteCheckout, 0);
        assert_eq!(permit.class, Class::CompleteCheckout);
        admit_permit(&mut admission, Class::Checkout, 0);
        admit_permit(&mut admission, Class::Claim, 0);
        let stats = admission.stats();
        assert_eq!(stats.in_flight, 63);
        assert_eq!(stats.per_class[Class::Chat.index()].admitted, 0);
    }
}

#[test]
fn each_class_stops_at_its_share_of_the_limit() {
    // Shares 1000, 950, 850, 700, 500 of a limit of 20: 20, 19, 17, 14 and 10 slots.
    for (class, slots) in Class::ALL.into_iter().zip([20, 19, 17, 14, 10]) {
        let mut admission = Admission::new(fixed_limit(20));
        for _ in 0..slots {
            admit_permit(&mut admission, class, 0);
        }
        let (_, position) = admit_ticket(&mut admission, class, 0);
        assert_eq!(position, 1, "{class}");
    }
}

#[test]
fn on_an_idle_gateway_every_class_gets_in_even_with_a_limit_of_one() {
    for class in Class::ALL {
        let mut admission = Admission::new(fixed_limit(1));
        admit_permit(&mut admission, class, 0);
    }
}

#[test]
fn while_a_claim_waits_a_fresh_claim_queues_behind_it() {
    // Claim's share of a limit of 10 is 8.5 slots: 9 claims run, the 10th waits.
    let mut admission = Admission::new(fixed_limit(10));
    let mut permits: Vec<_> = (0..9).map(|_| admit_permit(&mut admission, Class::Claim, 0)).collect();
    let (first, first_position) = admit_ticket(&mut admission, Class::Claim, 0);
    assert_eq!(first_position, 1);
    // A slot frees and a fresh claim arrives in the same millisecond: the waiting ticket gets the
    // slot, the fresh claim queues behind it.
    admission.complete(permits.pop().expect("a permit"), 1_000, false, 10);
    let (second, second_position) = admit_ticket(&mut admission, Class::Claim, 10);
    assert_eq!(second_position, 1);
    assert!(second.seq > first.seq);
    assert!(matches!(admission.poll(first, 10), TicketState::Admitted { .. }));
    // Another slot frees before the first ticket's shopper comes back: still no jumping.
    admission.complete(permits.pop().expect("a permit"), 1_000, false, 20);
    let (third, third_position) = admit_ticket(&mut admission, Class::Claim, 20);
    assert_eq!(third_position, 1);
    assert!(matches!(admission.poll(second, 20), TicketState::Admitted { .. }));
    assert_eq!(position(&mut admission, third, 20), 1);
}

#[test]
fn a_waiting_lower_class_does_not_block_a_higher_one() {
    let mut admission = Admission::new(fixed_limit(10));
    for _ in 0..5 {
        admit_permit(&mut admission, Class::Browse, 0);
    }
    let (chat, _) = admit_ticket(&mut admission, Class::Chat, 0);
    admit_permit(&mut admission, Class::Claim, 0);
    // A higher class's waiting ticket goes ahead of the chat ticket.
    for _ in 0..3 {
        admit_permit(&mut admission, Class::Claim, 0);
    }
    let (claim, claim_position) = admit_ticket(&mut admission, Class::Claim, 0);
    assert_eq!(claim_position, 1);
    assert_eq!(position(&mut admission, chat, 0), 2);
    assert_eq!(position(&mut admission, claim, 0), 1);
}

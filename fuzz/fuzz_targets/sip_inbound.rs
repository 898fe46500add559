//! The SIP inbound path as the transport runs it: bytes from anywhere are
//! parsed, then routed by Call-ID. A panic anywhere is a finding (libFuzzer
//! aborts on it, even inside `classify`'s `catch_unwind`), and so is a
//! message that parses but is not routed by exactly its Call-ID, or a 481
//! answer to a stray BYE or CANCEL that does not parse back.

#![no_main]

use libfuzzer_sys::fuzz_target;
use outdial::sip::inbound::{classify, Disposition};
use outdial::sip::message::parse;

fuzz_target!(|data: &[u8]| {
    let Ok(m) = parse(data) else {
        return;
    };
    let id = m.call_id.clone();
    match classify(data, |c: &str| (c == id).then_some(())) {
        Disposition::Deliver((), routed) => assert_eq!(routed, m),
        other => panic!("parsed, yet not delivered to its Call-ID's owner: {other:?}"),
    }
    if let Disposition::Unmatched {
        reply: Some(reply), ..
    } = classify(data, |_: &str| None::<()>)
    {
        let answer = parse(&reply).expect("our 481 parses");
        assert_eq!(answer.call_id, m.call_id);
        assert_eq!(answer.cseq, m.cseq);
    }
});

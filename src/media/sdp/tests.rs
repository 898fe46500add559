use super::*;

fn body(lines: &[&str]) -> String {
    lines.iter().map(|l| format!("{l}\r\n")).collect()
}

const HEAD: [&str; 4] = ["v=0", "o=- 1 1 IN IP4 192.0.2.1", "s=-", "t=0 0"];

fn answer_with(extra: &[&str]) -> String {
    let mut l = HEAD.to_vec();
    l.extend_from_slice(extra);
    body(&l)
}

#[test]
fn offer_lists_g711_and_events() {
    let o = offer("127.0.0.1".parse().unwrap(), 40000, 7);
    assert!(o.contains("m=audio 40000 RTP/AVP 0 8 101\r\n"));
    assert!(o.contains("a=rtpmap:8 PCMA/8000"));
    assert!(o.contains("c=IN IP4 127.0.0.1"));
    assert!(o.ends_with("\r\n"));
    // Our own offer reads back as a valid description.
    let n = negotiate_answer(&o).unwrap();
    assert_eq!((n.codec, n.event_pt), (Codec::Pcmu, Some(101)));
}

#[test]
fn event_payload_type_comes_from_the_answer() {
    let a = answer_with(&[
        "c=IN IP4 192.0.2.7",
        "m=audio 30000 RTP/AVP 8 96",
        "a=rtpmap:8 PCMA/8000",
        "a=rtpmap:96 telephone-event/8000",
        "a=ptime:30",
    ]);
    let n = negotiate_answer(&a).unwrap();
    assert_eq!(n.codec, Codec::Pcma);
    assert_eq!(n.audio_pt, 8);
    assert_eq!(n.event_pt, Some(96));
    assert_eq!(n.remote, Some("192.0.2.7:30000".parse().unwrap()));
    assert_eq!(n.remote_rtcp, Some("192.0.2.7:30001".parse().unwrap()));
    assert_eq!(n.ptime, Some(30));
    assert_eq!(n.direction, Direction::SendRecv);
    assert!(n.we_send());
}

#[test]
fn media_level_connection_wins_and_static_types_need_no_rtpmap() {
    let a = answer_with(&[
        "c=IN IP4 192.0.2.7",
        "m=audio 30000 RTP/AVP 0",
        "c=IN IP4 198.51.100.9",
        "a=rtcp:31000 IN IP4 198.51.100.10",
    ]);
    let n = negotiate_answer(&a).unwrap();
    assert_eq!(n.codec, Codec::Pcmu);
    assert_eq!(n.event_pt, None);
    assert_eq!(n.remote, Some("198.51.100.9:30000".parse().unwrap()));
    assert_eq!(n.remote_rtcp, Some("198.51.100.10:31000".parse().unwrap()));
}

#[test]
fn directions_are_mirrored_and_hold_stops_sending() {
    let with = |dir: &str, c: &str| {
        negotiate_answer(&answer_with(&[c, "m=audio 30000 RTP/AVP 0", dir])).unwrap()
    };
    let c = "c=IN IP4 192.0.2.7";
    // The answerer only sends: we only receive.
    assert_eq!(with("a=sendonly", c).direction, Direction::RecvOnly);
    assert!(!with("a=sendonly", c).we_send());
    assert_eq!(with("a=recvonly", c).direction, Direction::SendOnly);
    assert!(with("a=recvonly", c).we_send());
    assert_eq!(with("a=inactive", c).direction, Direction::Inactive);
    let held = with("a=sendrecv", "c=IN IP4 0.0.0.0");
    assert_eq!(held.remote, None);
    assert!(!held.we_send());
    // Session-level direction applies to the stream.
    let a = answer_with(&["a=sendonly", c, "m=audio 30000 RTP/AVP 0"]);
    assert_eq!(negotiate_answer(&a).unwrap().direction, Direction::RecvOnly);
}

#[test]
fn refusals_say_why() {
    let c = "c=IN IP4 192.0.2.7";
    assert_eq!(
        negotiate_answer(&answer_with(&[c, "m=audio 0 RTP/AVP 0"])),
        Err(SdpError::Rejected)
    );
    assert_eq!(
        negotiate_answer(&answer_with(&[
            c,
            "m=audio 3000 RTP/AVP 18",
            "a=rtpmap:18 G729/8000"
        ])),
        Err(SdpError::NoCommonCodec { got: "18".into() })
    );
    assert_eq!(negotiate_answer(&answer_with(&[c])), Err(SdpError::NoAudio));
    assert_eq!(
        negotiate_answer(&answer_with(&["m=audio 3000 RTP/AVP 0"])),
        Err(SdpError::NoAddress)
    );
    assert!(matches!(
        negotiate_answer("hello"),
        Err(SdpError::Malformed { line: 1, .. })
    ));
    assert!(matches!(
        negotiate_answer(""),
        Err(SdpError::Malformed { .. })
    ));
    assert!(matches!(
        negotiate_answer(&answer_with(&[
            "c=IN IP4 nowhere",
            "m=audio 3000 RTP/AVP 0"
        ])),
        Err(SdpError::Malformed { line: 5, .. })
    ));
    assert!(matches!(
        negotiate_answer(&answer_with(&[c, "m=audio x RTP/AVP 0"])),
        Err(SdpError::Malformed { line: 6, .. })
    ));
    assert!(matches!(
        negotiate_answer(&answer_with(&[
            c,
            "m=audio 3000 RTP/AVP 0",
            "a=rtpmap:zz PCMU/8000"
        ])),
        Err(SdpError::Malformed { line: 7, .. })
    ));
}

fn local() -> LocalSdp {
    LocalSdp {
        addr: "192.0.2.100".parse().unwrap(),
        port: 20000,
        session_id: 42,
        version: 42,
        codec: Some(Codec::Pcma),
        negotiated: None,
    }
}

#[test]
fn answer_to_keeps_the_codec_and_uses_the_offers_event_type() {
    let mut ours = local();
    let o = answer_with(&[
        "c=IN IP4 192.0.2.7",
        "m=audio 30000 RTP/AVP 0 8 97",
        "a=rtpmap:97 telephone-event/8000",
    ]);
    let a = answer_to(&o, &mut ours).unwrap();
    assert!(a.contains("o=outdial 42 43 IN IP4 192.0.2.100\r\n"), "{a}");
    assert!(a.contains("m=audio 20000 RTP/AVP 8 97\r\n"), "{a}");
    assert!(a.contains("a=rtpmap:97 telephone-event/8000\r\n"));
    assert!(a.contains("a=sendrecv\r\n"));
    let n = ours.negotiated.clone().unwrap();
    assert_eq!(
        (n.codec, n.audio_pt, n.event_pt),
        (Codec::Pcma, 8, Some(97))
    );
    // The answer is itself a valid description.
    assert_eq!(negotiate_answer(&a).unwrap().codec, Codec::Pcma);
}

#[test]
fn answer_to_a_hold_and_to_a_rejected_stream() {
    let mut ours = local();
    let hold = answer_with(&[
        "c=IN IP4 192.0.2.7",
        "m=audio 30000 RTP/AVP 0",
        "a=sendonly",
    ]);
    let a = answer_to(&hold, &mut ours).unwrap();
    assert!(a.contains("a=recvonly\r\n"), "{a}");
    assert!(
        a.contains("RTP/AVP 0\r\n"),
        "PCMA not offered: PCMU taken: {a}"
    );
    assert!(!ours.negotiated.as_ref().unwrap().we_send());
    let off = answer_with(&["c=IN IP4 192.0.2.7", "m=audio 0 RTP/AVP 0"]);
    let a = answer_to(&off, &mut ours).unwrap();
    assert!(a.contains("m=audio 0 RTP/AVP 0\r\n"));
    assert_eq!(ours.negotiated, None);
    assert!(answer_to(
        "v=0\r\nm=audio 1 RTP/AVP 18\r\nc=IN IP4 1.2.3.4\r\n",
        &mut ours
    )
    .is_err());
}

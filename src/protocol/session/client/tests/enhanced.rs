//! Enhanced RTMP connect negotiation: what the client announces, and what it reads from the
//! server's answer.

use super::*;
use crate::protocol::amf0;
use crate::protocol::session::enhanced::PeerCodecs;

/// Handshake and the client's connect command, decoded.
fn connect_object(config: ClientConfig) -> (ClientSession, ScriptedServer, f64, Amf0Value) {
    let mut client = ClientSession::new(config, 0, &[7; 1528]);
    let mut server = ScriptedServer::new();
    server.receive(&mut client);
    server.deliver(&mut client).unwrap();
    server.receive(&mut client);
    let (name, txn, object, _, _) = server.next_command();
    assert_eq!(name, "connect");
    (client, server, txn, object)
}

fn hex(s: &str) -> Vec<u8> {
    let s: String = s.chars().filter(|c| !c.is_whitespace()).collect();
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
        .collect()
}

fn encoded(value: &Amf0Value) -> String {
    let mut out = bytes::BytesMut::new();
    amf0::encode(value, &mut out);
    out.iter().map(|b| format!("{b:02x}")).collect()
}

#[test]
fn a_publisher_announces_every_fourcc_it_encodes_and_its_caps_ex() {
    let (_, _, _, object) = connect_object(publish_config());
    let hex = encoded(&object);
    // fourCcList: a strict array of the ten FourCCs, avc1 first and ec-3 last.
    assert!(hex.contains(concat!(
        "000a666f757243634c697374", // "fourCcList"
        "0a0000000a",               // strict array, 10 entries
        "02000461766331",           // "avc1"
    )));
    assert!(hex.contains("02000465632d33")); // "ec-3"
    // videoFourCcInfoMap {avc1: CanEncode (2), ...}
    assert!(hex.contains(concat!(
        "0012766964656f466f75724363496e666f4d6170", // "videoFourCcInfoMap"
        "03000461766331004000000000000000",
    )));
    assert!(hex.contains("0012617564696f466f75724363496e666f4d617003"));
    // capsEx: Reconnect | Multitrack.
    assert!(hex.contains("0006636170734578004008000000000000"));
    let ours = PeerCodecs::from_objects(&[&object]).unwrap();
    assert!(ours.lists(*b"hvc1") && ours.lists(*b"fLaC"));
}

#[test]
fn a_player_announces_decoding_multitrack_and_mod_ex() {
    let (_, _, _, object) = connect_object(play_config());
    let hex = encoded(&object);
    // {hvc1: CanDecode (1)} and capsEx Multitrack | ModEx | TimestampNanoOffset (14).
    assert!(hex.contains("000468766331003ff0000000000000"));
    assert!(hex.contains("000663617073457800402c000000000000"));
    // The legacy fields FFmpeg sends are still there.
    assert_eq!(
        object.get("videoCodecs").and_then(Amf0Value::as_number),
        Some(252.0)
    );
}

#[test]
fn enhanced_connect_can_be_left_out() {
    let mut config = publish_config();
    config.enhanced_connect = false;
    let (_, _, _, object) = connect_object(config);
    let keys: Vec<_> = object
        .properties()
        .unwrap()
        .iter()
        .map(|(k, _)| k.as_str())
        .collect();
    assert_eq!(keys, ["app", "type", "tcUrl"]);
}

fn answer(server: &mut ScriptedServer, txn: f64, properties: Amf0Value) {
    let message = Message::Command {
        stream_id: 0,
        name: "_result".into(),
        transaction_id: txn,
        command_object: properties,
        args: connect_success(),
    };
    server.send(3, &message, 0, 0);
}

#[test]
fn the_servers_answer_says_which_fourccs_it_takes() {
    let (mut client, mut server, txn, _) = connect_object(publish_config());
    assert_eq!(client.peer_codecs(), None);
    // Properties as a server following the specification sends them (hvc1 and Opus only).
    let properties = amf0::decode(
        &mut &hex(concat!(
            "03",
            "0006666d7356657202000d464d532f332c302c312c313233",
            "000a666f757243634c697374 0a00000002 02000468766331 0200044f707573",
            "0012766964656f466f75724363496e666f4d6170 03 000468766331 003ff0000000000000 000009",
            "0006636170734578 004000000000000000",
            "000009",
        ))[..],
    )
    .unwrap();
    answer(&mut server, txn, properties);
    server.deliver(&mut client).unwrap();
    let peer = client
        .peer_codecs()
        .expect("the answer lists codecs")
        .clone();
    assert!(peer.lists(*b"hvc1") && peer.lists(*b"Opus"));
    assert!(!peer.lists(*b"av01"));
    assert_eq!(peer.caps_ex, 2);
    assert!(matches!(
        events(&mut client).as_slice(),
        [SessionEvent::Connected(_)]
    ));
}

#[test]
fn a_legacy_answer_lists_nothing_and_publishing_goes_on_as_before() {
    let (mut client, mut server, txn, _) = connect_object(publish_config());
    // nginx-rtmp's properties object.
    let properties = Amf0Value::Object(vec![
        ("fmsVer".into(), Amf0Value::String("FMS/3,0,1,123".into())),
        ("capabilities".into(), Amf0Value::Number(31.0)),
    ]);
    answer(&mut server, txn, properties);
    server.deliver(&mut client).unwrap();
    server.receive(&mut client);
    assert_eq!(client.peer_codecs(), None);
    let names: Vec<_> = (0..3).map(|_| server.next_command().0).collect();
    assert_eq!(names, ["releaseStream", "FCPublish", "createStream"]);
}

//! Truncated, padded and lying packets fail cleanly, and framing tells whole
//! packets from a cut stream.

use super::extensions::extension_cases;
use super::*;

/// Every request with a fixed layout, encoded. (INIT with extensions and an
/// unknown extension end in "whatever is left", so some of their prefixes
/// are themselves valid.)
fn fixed_layout_packets() -> Vec<Bytes> {
    let mut packets: Vec<Bytes> = [
        Packet::Init(theirs::Init::new()),
        Packet::Open(theirs::Open {
            id: 1,
            filename: "f".into(),
            pflags: OpenFlags::READ,
            attrs: all_attrs(),
        }),
        Packet::Close(theirs::Close {
            id: 1,
            handle: "h".into(),
        }),
        Packet::Read(theirs::Read {
            id: 1,
            handle: "h".into(),
            offset: 0,
            len: 10,
        }),
        Packet::Write(theirs::Write {
            id: 1,
            handle: "h".into(),
            offset: 0,
            data: b"xyz".to_vec(),
        }),
        Packet::Lstat(theirs::Lstat {
            id: 1,
            path: "p".into(),
        }),
        Packet::Fstat(theirs::Fstat {
            id: 1,
            handle: "h".into(),
        }),
        Packet::SetStat(theirs::SetStat {
            id: 1,
            path: "p".into(),
            attrs: all_attrs(),
        }),
        Packet::FSetStat(theirs::FSetStat {
            id: 1,
            handle: "h".into(),
            attrs: all_attrs(),
        }),
        Packet::OpenDir(theirs::OpenDir {
            id: 1,
            path: "p".into(),
        }),
        Packet::ReadDir(theirs::ReadDir {
            id: 1,
            handle: "h".into(),
        }),
        Packet::Remove(theirs::Remove {
            id: 1,
            filename: "p".into(),
        }),
        Packet::MkDir(theirs::MkDir {
            id: 1,
            path: "p".into(),
            attrs: all_attrs(),
        }),
        Packet::RmDir(theirs::RmDir {
            id: 1,
            path: "p".into(),
        }),
        Packet::RealPath(theirs::RealPath {
            id: 1,
            path: "p".into(),
        }),
        Packet::Stat(theirs::Stat {
            id: 1,
            path: "p".into(),
        }),
        Packet::Rename(theirs::Rename {
            id: 1,
            oldpath: "a".into(),
            newpath: "b".into(),
        }),
        Packet::ReadLink(theirs::ReadLink {
            id: 1,
            path: "p".into(),
        }),
        Packet::Symlink(theirs::Symlink {
            id: 1,
            linkpath: "a".into(),
            targetpath: "b".into(),
        }),
    ]
    .into_iter()
    .map(encoded)
    .collect();
    packets.extend(extension_cases().into_iter().map(|(packet, _)| packet));
    packets
}

#[test]
fn every_truncation_of_a_valid_request_fails_cleanly() {
    for packet in fixed_layout_packets() {
        assert!(decode(packet.clone()).is_ok(), "{packet:?}");
        for len in 0..packet.len() {
            let Err(err) = decode(packet.slice(..len)) else {
                panic!("prefix {len} of {packet:?} decoded")
            };
            // The id comes back once the packet reaches past it (INIT has none).
            let expected_id = (len >= 5 && packet[0] != packet_type::INIT).then_some(1);
            assert_eq!(err.id, expected_id, "prefix {len} of {packet:?}");
        }
    }
}

#[test]
fn trailing_bytes_after_a_request_are_ignored() {
    for packet in fixed_layout_packets() {
        let mut longer = BytesMut::from(&packet[..]);
        longer.put_slice(b"\0\0\0\x05extra");
        // INIT reads pairs to the end, so its trailing bytes must be a pair.
        if packet[0] == packet_type::INIT {
            longer.put_slice(b"\0\0\0\0");
        }
        assert!(decode(longer.freeze()).is_ok(), "{packet:?}");
    }
}

#[test]
fn a_string_length_larger_than_the_packet_fails_with_the_id() {
    let packet = Raw::new(packet_type::STAT)
        .u32(21)
        .u32(u32::MAX)
        .bytes(b"abc")
        .done();
    let Err(err) = decode(packet) else {
        panic!("decoded")
    };
    assert_eq!(
        err,
        DecodeError {
            id: Some(21),
            packet_type: Some(packet_type::STAT),
            what: Malformed::Truncated,
        }
    );
}

#[test]
fn an_attribute_count_larger_than_the_packet_fails_with_the_id() {
    let packet = Raw::new(packet_type::SETSTAT)
        .u32(22)
        .string(b"p")
        .u32(0x8000_0000)
        .u32(u32::MAX)
        .done();
    let Err(err) = decode(packet) else {
        panic!("decoded")
    };
    assert_eq!((err.id, err.what), (Some(22), Malformed::CountTooLarge));
}

#[test]
fn an_empty_packet_is_malformed() {
    let Err(err) = decode(Bytes::new()) else {
        panic!("decoded")
    };
    assert_eq!(
        (err.id, err.packet_type, err.what),
        (None, None, Malformed::Empty)
    );
}

#[tokio::test]
async fn an_oversized_packet_length_is_refused_before_allocating() {
    let mut input: &[u8] = &[0xff, 0xff, 0xff, 0xff, 1, 2, 3];
    assert!(matches!(
        read_packet(&mut input).await,
        Err(FrameError::BadLength(u32::MAX))
    ));
    let mut too_big: &[u8] = &(MAX_PACKET_BYTES + 1).to_be_bytes();
    assert!(matches!(
        read_packet(&mut too_big).await,
        Err(FrameError::BadLength(_))
    ));
    let mut zero: &[u8] = &[0, 0, 0, 0];
    assert!(matches!(
        read_packet(&mut zero).await,
        Err(FrameError::BadLength(0))
    ));
}

#[tokio::test]
async fn framing_reads_whole_packets_and_tells_a_clean_end_from_a_cut() {
    let mut input: &[u8] = &[0, 0, 0, 2, 7, 8, 0, 0, 0, 1, 9];
    assert_eq!(&read_packet(&mut input).await.unwrap()[..], &[7, 8]);
    assert_eq!(&read_packet(&mut input).await.unwrap()[..], &[9]);
    assert!(matches!(
        read_packet(&mut input).await,
        Err(FrameError::Eof)
    ));
    let mut cut: &[u8] = &[0, 0, 0, 5, 1, 2];
    assert!(matches!(
        read_packet(&mut cut).await,
        Err(FrameError::Io(_))
    ));
}

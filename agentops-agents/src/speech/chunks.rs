//! Cutting a long recording into pieces a speech engine accepts.
//!
//! Hosted engines limit what one transcription takes (a file size, sometimes a
//! duration). Telegram's voice notes, browsers' `audio/ogg` recordings and the local
//! engine's speech are Ogg/Opus (RFC 7845): a header (`OpusHead`, `OpusTags`), then
//! packets of 2.5–120 ms of audio that each decode on their own. So a recording is cut
//! between packets into streams of their own — the same header, a run of packets, page
//! granule positions counted again from the piece's start — each an Ogg/Opus file any
//! engine reads.
//!
//! The cut goes where the speaker is quietest near the limit: variable-bitrate Opus
//! spends few bytes on silence, so the smallest packet in the last quarter of a piece
//! is taken as a pause, and a word is rarely cut in two. The container is read and
//! written with the `ogg` crate; other formats (WebM, MP3, WAV) are not cut.

use std::io::Cursor;

use ogg::{PacketReader, PacketWriteEndInfo, PacketWriter};

/// Opus counts time in samples at 48 kHz, whatever the recording's rate.
const RATE: f64 = 48_000.0;

/// Packets in one Ogg page of a piece (about a second of 20 ms packets).
const PACKETS_PER_PAGE: usize = 50;

/// How long and how large one piece may be.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Limit {
    /// Seconds of audio.
    pub seconds: f64,
    /// Bytes of file.
    pub bytes: usize,
}

/// `audio` cut into Ogg/Opus pieces within `limit`, in order; `None` if it is not a
/// single Ogg/Opus stream (or is damaged), so it cannot be cut here. A recording that
/// fits comes back as one piece (rewritten the same way).
pub fn split(audio: &[u8], limit: Limit) -> Option<Vec<Vec<u8>>> {
    let mut reader = PacketReader::new(Cursor::new(audio));
    let head = reader.read_packet().ok()??;
    if !head.data.starts_with(b"OpusHead") || head.data.len() < 19 {
        return None;
    }
    let serial = head.stream_serial();
    let pre_skip = u64::from(u16::from_le_bytes([head.data[10], head.data[11]]));
    let tags = reader.read_packet().ok()??;
    if !tags.data.starts_with(b"OpusTags") || tags.stream_serial() != serial {
        return None;
    }
    let mut packets: Vec<(Vec<u8>, u64)> = Vec::new();
    while let Some(packet) = reader.read_packet().ok()? {
        if packet.stream_serial() != serial {
            // Several streams (a chained or multiplexed file): not ours to cut.
            return None;
        }
        let samples = samples(&packet.data)?;
        packets.push((packet.data, samples));
    }
    if packets.is_empty() {
        return None;
    }
    let header_bytes = head.data.len() + tags.data.len() + 2 * 30;
    // A packet costs its bytes, a byte of the page's segment table per 255 of them, and
    // its share of a page's 27-byte header.
    let cost = |data: &[u8]| data.len() + data.len() / 255 + 2;
    let max_samples = (limit.seconds.max(0.0) * RATE) as u64;
    let max_bytes = limit.bytes.saturating_sub(header_bytes);

    let mut pieces = Vec::new();
    let mut start = 0;
    while start < packets.len() {
        let (mut end, mut samples, mut bytes) = (start, 0, 0);
        while end < packets.len()
            && samples + packets[end].1 <= max_samples
            && bytes + cost(&packets[end].0) <= max_bytes
        {
            samples += packets[end].1;
            bytes += cost(&packets[end].0);
            end += 1;
        }
        if end == packets.len() {
            pieces.push(write(
                serial,
                &head.data,
                &tags.data,
                pre_skip,
                &packets[start..],
            ));
            break;
        }
        // A packet larger than the limit on its own still makes a piece.
        let end = if end == start {
            start + 1
        } else {
            // The quietest packet of the last quarter ends the piece (the latest of
            // equals, so pieces stay long).
            let from = start + (end - start) * 3 / 4;
            (from..end)
                .min_by_key(|&i| (packets[i].0.len(), std::cmp::Reverse(i)))
                .map_or(end, |i| i + 1)
        };
        pieces.push(write(
            serial,
            &head.data,
            &tags.data,
            pre_skip,
            &packets[start..end],
        ));
        start = end;
    }
    Some(pieces)
}

/// One Ogg/Opus stream: the header, then `packets` timed from zero.
fn write(
    serial: u32,
    head: &[u8],
    tags: &[u8],
    pre_skip: u64,
    packets: &[(Vec<u8>, u64)],
) -> Vec<u8> {
    let mut out = Vec::new();
    let mut writer = PacketWriter::new(&mut out);
    // Writing into memory cannot fail.
    let mut put = |data: &[u8], end: PacketWriteEndInfo, granule: u64| {
        writer
            .write_packet(data.to_vec(), serial, end, granule)
            .expect("writing to memory");
    };
    put(head, PacketWriteEndInfo::EndPage, 0);
    put(tags, PacketWriteEndInfo::EndPage, 0);
    // A page's granule position counts the samples decoded by its end, pre-skip included.
    let mut granule = pre_skip;
    for (at, (data, samples)) in packets.iter().enumerate() {
        granule += samples;
        let end = if at + 1 == packets.len() {
            PacketWriteEndInfo::EndStream
        } else if (at + 1) % PACKETS_PER_PAGE == 0 {
            PacketWriteEndInfo::EndPage
        } else {
            PacketWriteEndInfo::NormalPacket
        };
        put(data, end, granule);
    }
    drop(writer);
    out
}

/// How many 48 kHz samples an Opus packet holds (RFC 6716 §3.1: its TOC byte names the
/// frame size, and its frame count); `None` if it is not a packet.
pub fn samples(packet: &[u8]) -> Option<u64> {
    let toc = *packet.first()?;
    let config = toc >> 3;
    let frame: u64 = match config {
        // SILK: 10, 20, 40, 60 ms.
        0..=11 => [480, 960, 1_920, 2_880][usize::from(config % 4)],
        // Hybrid: 10, 20 ms.
        12..=15 => [480, 960][usize::from(config % 2)],
        // CELT: 2.5, 5, 10, 20 ms.
        _ => [120, 240, 480, 960][usize::from(config % 4)],
    };
    let frames = match toc & 3 {
        0 => 1,
        1 | 2 => 2,
        _ => u64::from(*packet.get(1)? & 0x3f),
    };
    Some(frame * frames)
}

/// How long an Ogg/Opus recording is, in seconds; `None` if it is not one.
pub fn duration(audio: &[u8]) -> Option<f64> {
    let pieces = split(
        audio,
        Limit {
            seconds: f64::MAX,
            bytes: usize::MAX,
        },
    )?;
    let mut reader = PacketReader::new(Cursor::new(pieces.first()?.as_slice()));
    let mut total = 0;
    while let Some(packet) = reader.read_packet().ok()? {
        if !packet.data.starts_with(b"Opus") {
            total += samples(&packet.data)?;
        }
    }
    Some(total as f64 / RATE)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A 20 ms CELT packet of `len` bytes (TOC: config 31, one frame).
    fn packet(len: usize) -> Vec<u8> {
        let mut data = vec![0x55; len];
        data[0] = 31 << 3;
        data
    }

    fn opus_head() -> Vec<u8> {
        let mut head = b"OpusHead".to_vec();
        head.push(1); // version
        head.push(1); // channels
        head.extend(312u16.to_le_bytes()); // pre-skip
        head.extend(48_000u32.to_le_bytes());
        head.extend([0, 0, 0]); // gain, mapping family
        head
    }

    /// An Ogg/Opus stream of `packets`, in pages of ten.
    fn stream(packets: &[Vec<u8>]) -> Vec<u8> {
        let mut out = Vec::new();
        let mut writer = PacketWriter::new(&mut out);
        writer
            .write_packet(opus_head(), 7, PacketWriteEndInfo::EndPage, 0)
            .unwrap();
        writer
            .write_packet(
                b"OpusTags\0\0\0\0\0\0\0\0".to_vec(),
                7,
                PacketWriteEndInfo::EndPage,
                0,
            )
            .unwrap();
        for (at, data) in packets.iter().enumerate() {
            let end = if at + 1 == packets.len() {
                PacketWriteEndInfo::EndStream
            } else if at % 10 == 9 {
                PacketWriteEndInfo::EndPage
            } else {
                PacketWriteEndInfo::NormalPacket
            };
            writer
                .write_packet(data.clone(), 7, end, 312 + 960 * (at as u64 + 1))
                .unwrap();
        }
        drop(writer);
        out
    }

    /// The audio packets of a stream, and the granule position of its last page.
    fn read(audio: &[u8]) -> (Vec<Vec<u8>>, u64) {
        let mut reader = PacketReader::new(Cursor::new(audio));
        let (mut packets, mut last) = (Vec::new(), 0);
        while let Some(p) = reader.read_packet().unwrap() {
            if !p.data.starts_with(b"Opus") {
                last = p.absgp_page();
                packets.push(p.data);
            }
        }
        (packets, last)
    }

    #[test]
    fn packets_say_how_long_they_are() {
        assert_eq!(samples(&[31 << 3]), Some(960)); // CELT 20 ms
        assert_eq!(samples(&[(3 << 3) | 1]), Some(2 * 2_880)); // SILK 60 ms, two frames
        assert_eq!(samples(&[(13 << 3) | 3, 0x85]), Some(5 * 960)); // hybrid 20 ms, five
        assert_eq!(samples(&[]), None);
    }

    #[test]
    fn a_long_recording_is_cut_at_its_pauses_into_pieces_that_fit() {
        // 30 s of speech (60-byte packets) with a pause (3-byte packets) every 7 s.
        let packets: Vec<Vec<u8>> = (0..1_500)
            .map(|i| {
                if i % 350 >= 340 {
                    packet(3)
                } else {
                    packet(60)
                }
            })
            .collect();
        let audio = stream(&packets);
        assert!((duration(&audio).unwrap() - 30.0).abs() < 1e-9);

        let limit = Limit {
            seconds: 8.0,
            bytes: usize::MAX,
        };
        let pieces = split(&audio, limit).unwrap();
        assert_eq!(pieces.len(), 5, "7 s + 7 s + 7 s + 7 s + 2 s");
        let mut again = Vec::new();
        for piece in &pieces {
            let (got, granule) = read(piece);
            let seconds = duration(piece).unwrap();
            assert!(seconds <= 8.0, "{seconds}");
            // Timed from its own start, pre-skip included.
            assert_eq!(granule, 312 + 960 * got.len() as u64);
            again.extend(got);
        }
        // Nothing lost, nothing repeated, in order; every cut right after a pause.
        assert_eq!(again, packets);
        for piece in &pieces[..pieces.len() - 1] {
            assert_eq!(read(piece).0.last().unwrap().len(), 3);
        }

        // Bytes limit too; a recording that fits is one piece.
        let pieces = split(
            &audio,
            Limit {
                seconds: 1e9,
                bytes: 40_000,
            },
        )
        .unwrap();
        assert!(pieces.len() >= 3 && pieces.iter().all(|p| p.len() <= 40_000));
        assert_eq!(
            split(
                &audio,
                Limit {
                    seconds: 60.0,
                    bytes: usize::MAX
                }
            )
            .unwrap()
            .len(),
            1
        );
    }

    #[test]
    fn what_is_not_ogg_opus_is_not_cut() {
        assert_eq!(
            split(
                b"RIFF....WAVEfmt ",
                Limit {
                    seconds: 1.0,
                    bytes: 10
                }
            ),
            None
        );
        assert_eq!(
            split(
                b"",
                Limit {
                    seconds: 1.0,
                    bytes: 10
                }
            ),
            None
        );
        assert_eq!(duration(b"OggS but not really"), None);
    }
}

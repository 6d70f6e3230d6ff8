use super::*;
use ::mp4::{AvcConfig, MediaConfig, Mp4Config, Mp4Reader, Mp4Writer, TrackConfig, WriteBox};
use proptest::prelude::*;
use std::io::Read;

/// The demo drive: 300 frames, 960×540, 15 fps, written with the index at the end.
fn fixture() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../fixtures/demo-drive/video.mp4")
}

fn fixture_reader() -> Mp4Reader<std::io::BufReader<std::fs::File>> {
    let file = std::fs::File::open(fixture()).unwrap();
    let size = file.metadata().unwrap().len();
    Mp4Reader::read_header(std::io::BufReader::new(file), size).unwrap()
}

fn all_frames(source: impl Iterator<Item = Result<Frame, IoError>>) -> Vec<Frame> {
    source.map(Result::unwrap).collect()
}

/// The frames up to the first error, and the error.
fn frames_until_error(source: impl Iterator<Item = Result<Frame, IoError>>) -> (usize, String) {
    let mut count = 0;
    for frame in source {
        match frame {
            Ok(_) => count += 1,
            Err(e) => return (count, e.to_string()),
        }
    }
    panic!("no error after {count} frames");
}

/// The fixture rewritten with its index ahead of the media data, as `ffmpeg -movflags
/// faststart` writes: cutting such a file leaves the index whole.
fn faststart_copy(path: &Path) -> u64 {
    let reader = fixture_reader();
    let mut moov = reader.moov.clone();
    let mut moov_bytes = Vec::new();
    moov.write_box(&mut moov_bytes).unwrap();
    // (write_box answers 0, not the size.)
    let moov_len = moov_bytes.len();
    for trak in &mut moov.traks {
        for offset in &mut trak.mdia.minf.stbl.stco.as_mut().unwrap().entries {
            *offset += moov_len as u32;
        }
    }
    let original = std::fs::read(fixture()).unwrap();
    let mut out = Vec::new();
    reader.ftyp.write_box(&mut out).unwrap();
    let ftyp_len = out.len();
    moov_bytes.clear();
    moov.write_box(&mut moov_bytes).unwrap();
    out.extend_from_slice(&moov_bytes);
    // The original is ftyp, mdat, moov: the media data follows the ftyp.
    let mdat_len = u32::from_be_bytes(original[ftyp_len..ftyp_len + 4].try_into().unwrap());
    out.extend_from_slice(&original[ftyp_len..ftyp_len + mdat_len as usize]);
    std::fs::write(path, &out).unwrap();
    out.len() as u64
}

/// The fixture remuxed (index at the end, as cameras write) with the in-band parameter
/// sets taken out of its samples, as cameras that leave them to the index write it.
fn out_of_band_copy(path: &Path) {
    let mut reader = fixture_reader();
    let track = &reader.tracks()[&1];
    let config = TrackConfig {
        track_type: track.track_type().unwrap(),
        timescale: track.timescale(),
        language: "und".into(),
        media_conf: MediaConfig::AvcConfig(AvcConfig {
            width: track.width(),
            height: track.height(),
            seq_param_set: track.sequence_parameter_set().unwrap().to_vec(),
            pic_param_set: track.picture_parameter_set().unwrap().to_vec(),
        }),
    };
    let file = std::io::BufWriter::new(std::fs::File::create(path).unwrap());
    let mp4_config = Mp4Config {
        major_brand: reader.ftyp.major_brand,
        minor_version: reader.ftyp.minor_version,
        compatible_brands: reader.ftyp.compatible_brands.clone(),
        timescale: 1000,
    };
    let mut writer = Mp4Writer::write_start(file, &mp4_config).unwrap();
    writer.add_track(&config).unwrap();
    for id in 1..=reader.sample_count(1).unwrap() {
        let mut sample = reader.read_sample(1, id).unwrap().unwrap();
        let (mut rest, mut kept) = (&sample.bytes[..], Vec::new());
        while rest.len() >= 4 {
            let length = u32::from_be_bytes(rest[..4].try_into().unwrap()) as usize;
            let unit = &rest[..4 + length];
            if !matches!(unit[4] & 0x1f, 7 | 8) {
                kept.extend_from_slice(unit);
            }
            rest = &rest[4 + length..];
        }
        sample.bytes = kept.into();
        writer.write_sample(1, &sample).unwrap();
    }
    writer.write_end().unwrap();
}

/// The fixture's video as a raw Annex-B stream: parameter sets, then every sample's NAL
/// units with start codes.
fn annex_b_stream() -> Vec<u8> {
    let mut reader = fixture_reader();
    let track = &reader.tracks()[&1];
    let mut stream = Vec::new();
    for set in [
        track.sequence_parameter_set().unwrap(),
        track.picture_parameter_set().unwrap(),
    ] {
        stream.extend_from_slice(&[0, 0, 0, 1]);
        stream.extend_from_slice(set);
    }
    for id in 1..=reader.sample_count(1).unwrap() {
        let sample = reader.read_sample(1, id).unwrap().unwrap();
        let mut rest = &sample.bytes[..];
        while !rest.is_empty() {
            let len = u32::from_be_bytes(rest[..4].try_into().unwrap()) as usize;
            stream.extend_from_slice(&[0, 0, 1]);
            stream.extend_from_slice(&rest[4..4 + len]);
            rest = &rest[4 + len..];
        }
    }
    stream
}

/// A reader that hands out at most `chunk` bytes a call, as a pipe does.
struct Trickle<'a> {
    bytes: &'a [u8],
    chunk: usize,
}

impl Read for Trickle<'_> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.chunk.min(buf.len()).min(self.bytes.len());
        buf[..n].copy_from_slice(&self.bytes[..n]);
        self.bytes = &self.bytes[n..];
        Ok(n)
    }
}

#[test]
fn mp4_frames_come_with_the_container_times() {
    let source = Mp4Source::open(&fixture()).unwrap();
    let info = source.info().clone();
    assert_eq!(
        (info.width, info.height, info.frame_count),
        (960, 540, Some(300))
    );
    assert!((info.fps - 15.0).abs() < 1e-9, "{}", info.fps);
    // The simulator's writer sets no creation time.
    assert_eq!(info.creation_unix_s, None);
    let frames = all_frames(source);
    assert_eq!(frames.len(), 300);
    for (k, frame) in frames.iter().enumerate() {
        assert_eq!(frame.index, k as u64);
        assert!(
            (frame.time_s - k as f64 / 15.0).abs() < 1e-9,
            "{k}: {}",
            frame.time_s
        );
        assert_eq!(frame.image.dimensions(), (960, 540));
    }
    // A day scene: sky and road are neither black nor saturated, and frames differ.
    let mean = |f: &Frame| {
        f.image.as_raw().iter().map(|&v| f64::from(v)).sum::<f64>() / f.image.as_raw().len() as f64
    };
    assert!(
        (40.0..220.0).contains(&mean(&frames[0])),
        "{}",
        mean(&frames[0])
    );
    assert_ne!(frames[0].image, frames[299].image);
}

#[test]
fn an_mp4_cut_off_inside_its_media_gives_the_frames_before_the_cut_then_an_error() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("cut.mp4");
    let full_len = faststart_copy(&path);
    assert_eq!(all_frames(Mp4Source::open(&path).unwrap()).len(), 300);
    // Cut in the middle of the media data: frames whose sample lies whole before the cut
    // decode, the first sample across it is the error.
    let cut = full_len / 2;
    let bytes = std::fs::read(&path).unwrap();
    std::fs::write(&path, &bytes[..cut as usize]).unwrap();
    let source = Mp4Source::open(&path).unwrap();
    let whole = source
        .samples
        .iter()
        .take_while(|s| s.offset + u64::from(s.size) <= cut)
        .count();
    assert!((100..200).contains(&whole), "{whole}");
    let (decoded, error) = frames_until_error(source);
    assert_eq!(decoded, whole);
    assert!(error.contains("cut.mp4"), "{error}");
    assert!(
        error.contains(&format!("video sample {} of 300", whole + 1)),
        "{error}"
    );
    assert!(error.contains("cut off"), "{error}");
}

#[test]
fn an_mp4_cut_off_before_its_index_is_a_clear_error() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("lost-power.mp4");
    out_of_band_copy(&path);
    let bytes = std::fs::read(&path).unwrap();
    std::fs::write(&path, &bytes[..bytes.len() / 2]).unwrap();
    let error = Mp4Source::open(&path).err().unwrap().to_string();
    assert!(error.contains("lost-power.mp4"), "{error}");
    assert!(error.contains("cut off before its index"), "{error}");
    // Without its index, media data whose samples leave the parameter sets to the index
    // cannot be decoded either.
    let error = open(&path, 15.0).err().unwrap().to_string();
    assert!(
        error.contains("lost-power.mp4") && error.contains("no parameter sets"),
        "{error}"
    );
}

#[test]
fn an_mp4_cut_off_before_its_index_is_read_without_it_when_it_can_be() {
    let dir = tempfile::tempdir().unwrap();
    // The fixture, as the simulator writes it, carries the parameter sets in-band ahead
    // of every key frame, as many dashcams do.
    let path = dir.path().join("in-band.mp4");
    std::fs::copy(fixture(), &path).unwrap();
    let indexed = all_frames(open(&path, 15.0).unwrap());
    assert_eq!(indexed.len(), 300);
    // Cut in half: the frames whose samples lie whole before the cut, with the times the
    // camera's rate gives, then the error naming the byte.
    let samples = Mp4Source::open(&path).unwrap().samples;
    let bytes = std::fs::read(&path).unwrap();
    let cut = bytes.len() / 2;
    std::fs::write(&path, &bytes[..cut]).unwrap();
    let whole = samples
        .iter()
        .take_while(|s| s.offset + u64::from(s.size) <= cut as u64)
        .count();
    assert!((100..200).contains(&whole), "{whole}");
    let mut frames = Vec::new();
    let mut error = None;
    for frame in open(&path, 15.0).unwrap() {
        match frame {
            Ok(frame) => frames.push(frame),
            Err(e) => error = Some(e.to_string()),
        }
    }
    assert_eq!(frames.len(), whole);
    for (k, (frame, expected)) in frames.iter().zip(&indexed).enumerate() {
        assert!(frame.image == expected.image, "frame {k} differs");
        assert!((frame.time_s - expected.time_s).abs() < 1e-9);
    }
    let error = error.expect("the cut is an error");
    assert!(
        error.contains("in-band.mp4, byte ") && error.contains("cut off"),
        "{error}"
    );
}

#[test]
fn a_corrupt_sample_ends_the_frames_there_with_its_number() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("corrupt.mp4");
    let mut bytes = std::fs::read(fixture()).unwrap();
    let sample = Mp4Source::open(&fixture()).unwrap().samples[40];
    // The first NAL unit claims more bytes than its sample holds.
    bytes[sample.offset as usize..sample.offset as usize + 4].copy_from_slice(&[0x7f; 4]);
    std::fs::write(&path, &bytes).unwrap();
    let (decoded, error) = frames_until_error(Mp4Source::open(&path).unwrap());
    assert_eq!(decoded, 40);
    assert!(
        error.contains("corrupt.mp4, video sample 41 of 300"),
        "{error}"
    );
    assert!(error.contains("corrupt"), "{error}");
}

#[test]
fn hevc_and_files_that_are_not_mp4_are_refused_by_name() {
    let dir = tempfile::tempdir().unwrap();
    let bytes = std::fs::read(fixture()).unwrap();
    for (fourcc, name) in [(b"hvc1", "HEVC"), (b"hev1", "HEVC"), (b"vp09", "VP9")] {
        let path = dir
            .path()
            .join(format!("{}.mp4", std::str::from_utf8(fourcc).unwrap()));
        let at = bytes.windows(4).rposition(|w| w == b"avc1").unwrap();
        let mut patched = bytes.clone();
        patched[at..at + 4].copy_from_slice(fourcc);
        std::fs::write(&path, &patched).unwrap();
        let error = match Mp4Source::open(&path) {
            Err(e) => e.to_string(),
            Ok(_) => panic!("{} opened", path.display()),
        };
        assert!(error.contains(&*path.to_string_lossy()), "{error}");
        assert!(
            error.contains(name) && error.contains("not supported"),
            "{error}"
        );
    }
    let garbage = dir.path().join("garbage.mp4");
    let noise: Vec<u8> = (0..10_000u32)
        .map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8)
        .collect();
    std::fs::write(&garbage, &noise).unwrap();
    let error = Mp4Source::open(&garbage).err().unwrap().to_string();
    assert!(
        error.contains("garbage.mp4") && error.contains("not an MP4"),
        "{error}"
    );
}

#[test]
fn a_box_claiming_more_bytes_than_offsets_hold_ends_the_box_list() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("huge.mp4");
    let mut bytes = [&[0, 0, 0, 16][..], b"ftypisom", &[0; 4]].concat();
    // A 64-bit size of 2⁶⁴ − 1 after 16 bytes of file: its end is past any offset.
    bytes.extend_from_slice(&[0, 0, 0, 1]);
    bytes.extend_from_slice(b"mdat");
    bytes.extend_from_slice(&u64::MAX.to_be_bytes());
    bytes.extend_from_slice(&[0; 64]);
    std::fs::write(&path, &bytes).unwrap();
    let error = Mp4Source::open(&path).err().unwrap().to_string();
    assert!(
        error.contains("huge.mp4") && error.contains("no index"),
        "{error}"
    );
}

#[test]
fn raw_annex_b_gives_the_same_frames_as_the_mp4_timed_by_the_given_rate() {
    let stream = annex_b_stream();
    let expected = all_frames(Mp4Source::open(&fixture()).unwrap());
    // Small reads split NAL units and start codes across reads.
    let reader = Trickle {
        bytes: &stream,
        chunk: 997,
    };
    let source = AnnexBSource::new(reader, Path::new("-"), 30.0).unwrap();
    assert_eq!(
        (
            source.info().width,
            source.info().height,
            source.info().frame_count
        ),
        (960, 540, None)
    );
    let frames = all_frames(source);
    assert_eq!(frames.len(), expected.len());
    for (k, (frame, mp4)) in frames.iter().zip(&expected).enumerate() {
        assert!((frame.time_s - k as f64 / 30.0).abs() < 1e-12);
        assert!(frame.image == mp4.image, "frame {k} differs");
    }
}

#[test]
fn a_stream_that_is_not_h264_is_an_error() {
    let noise: Vec<u8> = (0..50_000u32)
        .map(|i| (i.wrapping_mul(2_654_435_761) >> 7) as u8)
        .collect();
    let error = AnnexBSource::new(&noise[..], Path::new("-"), 30.0)
        .err()
        .unwrap()
        .to_string();
    assert!(error.starts_with("-"), "{error}");
    // A stream cut inside a picture: the pictures before it come out.
    let stream = annex_b_stream();
    let cut = &stream[..stream.len() / 3];
    let frames: Vec<_> = AnnexBSource::new(cut, Path::new("-"), 15.0)
        .unwrap()
        .collect();
    assert!(frames.len() > 50, "{}", frames.len());
}

#[test]
fn image_folders_read_in_name_order_timed_by_fps() {
    let dir = tempfile::tempdir().unwrap();
    let shade = |k: u8| image::RgbImage::from_pixel(64, 48, image::Rgb([k * 40, 100, 200]));
    for k in 0..3u8 {
        shade(k)
            .save(dir.path().join(format!("{:06}.png", 2 - k)))
            .unwrap();
    }
    shade(3).save(dir.path().join("000003.jpg")).unwrap();
    std::fs::write(dir.path().join("notes.txt"), "not a frame").unwrap();
    let source = ImageFolder::open(dir.path(), 10.0).unwrap();
    assert_eq!(source.info().frame_count, Some(4));
    let frames = all_frames(source);
    let reds: Vec<u8> = frames.iter().map(|f| f.image.get_pixel(5, 5)[0]).collect();
    assert_eq!(&reds[..3], &[80, 40, 0]);
    assert!(reds[3].abs_diff(120) < 4, "{}", reds[3]);
    for (k, frame) in frames.iter().enumerate() {
        assert!((frame.time_s - k as f64 * 0.1).abs() < 1e-12);
    }
    // A frame of another size is an error naming it, after the frames before it.
    image::RgbImage::new(32, 48)
        .save(dir.path().join("000004.png"))
        .unwrap();
    let (decoded, error) = frames_until_error(ImageFolder::open(dir.path(), 10.0).unwrap());
    assert_eq!(decoded, 4);
    assert!(
        error.contains("000004.png") && error.contains("32×48"),
        "{error}"
    );
    let empty = tempfile::tempdir().unwrap();
    let error = ImageFolder::open(empty.path(), 10.0)
        .err()
        .unwrap()
        .to_string();
    assert!(error.contains("no .png or .jpg"), "{error}");
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn start_codes_are_found_where_a_plain_search_finds_them(
        bytes in proptest::collection::vec(prop_oneof![Just(0u8), Just(1u8), any::<u8>()], 0..64),
        from in 0usize..8,
    ) {
        let plain = (from..bytes.len().saturating_sub(2)).find(|&i| bytes[i..i + 3] == [0, 0, 1]);
        prop_assert_eq!(h264::find_start_code(&bytes, from), plain);
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(6))]

    #[test]
    fn a_stream_decodes_the_same_however_its_reads_are_cut(chunk in 1usize..70_000) {
        static PREFIX: std::sync::OnceLock<(Vec<u8>, Vec<Frame>)> = std::sync::OnceLock::new();
        let (stream, expected) = PREFIX.get_or_init(|| {
            // The first 20 pictures: up to the start code of the 21st slice.
            let stream = annex_b_stream();
            let mut slices = 0;
            let mut at = 0;
            while let Some(found) = h264::find_start_code(&stream, at) {
                if matches!(stream[found + 3] & 0x1f, 1 | 5) {
                    slices += 1;
                    if slices == 21 {
                        let prefix = stream[..found].to_vec();
                        let frames = all_frames(AnnexBSource::new(&prefix[..], Path::new("-"), 15.0).unwrap());
                        return (prefix, frames);
                    }
                }
                at = found + 3;
            }
            unreachable!("the fixture has more than 20 pictures")
        });
        prop_assert_eq!(expected.len(), 20);
        let reader = Trickle { bytes: stream, chunk };
        let frames = all_frames(AnnexBSource::new(reader, Path::new("-"), 15.0).unwrap());
        prop_assert_eq!(frames.len(), expected.len());
        for (frame, expected) in frames.iter().zip(expected) {
            prop_assert!(frame.image == expected.image);
        }
    }
}

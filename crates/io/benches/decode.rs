//! Decoding speed of the frame sources, end to end (file or stream → RGB frames): the demo
//! drive's MP4 (960×540), the same film scaled to 1280×720 as a raw H.264 stream (the
//! pipeline's target size), and the Udacity lane-line clip (960×540, H.264 High) where
//! the shared data is present.

use divan::counter::ItemsCount;
use mapfix_io::frames::{AnnexBSource, Mp4Source};
use openh264::encoder::{Encoder, EncoderConfig, FrameRate, RateControlMode};
use openh264::formats::{RgbSliceU8, YUVBuffer};
use openh264::OpenH264API;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

fn main() {
    divan::main();
}

fn workspace() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn demo_video() -> PathBuf {
    workspace().join("fixtures/demo-drive/video.mp4")
}

fn decode_mp4(path: &Path) -> usize {
    Mp4Source::open(path).unwrap().map(Result::unwrap).count()
}

#[divan::bench(sample_count = 5, sample_size = 1)]
fn mp4_demo_drive_960x540(bencher: divan::Bencher) {
    bencher
        .counter(ItemsCount::new(300usize))
        .bench(|| assert_eq!(decode_mp4(&demo_video()), 300));
}

#[divan::bench(sample_count = 5, sample_size = 1)]
fn mp4_udacity_solid_white_right_960x540(bencher: divan::Bencher) {
    let path =
        workspace().join("../shared/data/frames/udacity-lanelines/test_videos/solidWhiteRight.mp4");
    if !path.exists() {
        eprintln!("skipped: {} is not here", path.display());
        return;
    }
    let frames = decode_mp4(&path);
    bencher
        .counter(ItemsCount::new(frames))
        .bench(|| decode_mp4(&path));
}

/// The demo drive's frames scaled to 1280×720 and encoded as one raw H.264 stream.
fn stream_720p() -> &'static [u8] {
    static STREAM: OnceLock<Vec<u8>> = OnceLock::new();
    STREAM.get_or_init(|| {
        let config = EncoderConfig::new()
            .max_frame_rate(FrameRate::from_hz(30.0))
            .rate_control_mode(RateControlMode::Off)
            .skip_frames(false);
        let mut encoder = Encoder::with_api_config(OpenH264API::from_source(), config).unwrap();
        let mut yuv = YUVBuffer::new(1280, 720);
        let mut stream = Vec::new();
        for frame in Mp4Source::open(&demo_video()).unwrap() {
            let image = frame.unwrap().image;
            let scaled =
                image::imageops::resize(&image, 1280, 720, image::imageops::FilterType::Triangle);
            yuv.read_rgb8(RgbSliceU8::new(scaled.as_raw(), (1280, 720)));
            encoder.encode(&yuv).unwrap().write_vec(&mut stream);
        }
        stream
    })
}

#[divan::bench(sample_count = 5, sample_size = 1)]
fn annex_b_1280x720(bencher: divan::Bencher) {
    let stream = stream_720p();
    bencher.counter(ItemsCount::new(300usize)).bench(|| {
        let source = AnnexBSource::new(stream, Path::new("-"), 30.0).unwrap();
        assert_eq!(source.map(Result::unwrap).count(), 300);
    });
}

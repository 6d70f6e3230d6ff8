//! H.264 video in an MP4 file: frames are encoded with OpenH264 (built from source, no
//! system libraries) and muxed with the `mp4` crate's writer.
//!
//! OpenH264 emits Annex-B NAL units (start-code prefixed); MP4 wants them length-prefixed,
//! with the sequence and picture parameter sets in the track's `avcC` box instead of the
//! stream, so the track is added once the first frame has produced them.

use crate::SimError;
use image::RgbImage;
use mp4::{
    AvcConfig, FourCC, MediaConfig, Mp4Config, Mp4Sample, Mp4Writer, TrackConfig, TrackType,
};
use openh264::encoder::{
    Encoder, EncoderConfig, FrameRate, FrameType, IntraFramePeriod, RateControlMode,
};
use openh264::formats::{RgbSliceU8, YUVBuffer};
use openh264::OpenH264API;
use std::fs::File;
use std::io::BufWriter;
use std::path::{Path, PathBuf};

/// Ticks per frame in the track's time scale (the time scale is `fps × 1000`, rounded).
const TICKS_PER_FRAME: u32 = 1000;
const NAL_SPS: u8 = 7;
const NAL_PPS: u8 = 8;

/// Writes RGB frames of one size as an H.264 MP4.
pub struct VideoWriter {
    path: PathBuf,
    encoder: Encoder,
    yuv: YUVBuffer,
    width: u32,
    height: u32,
    timescale: u32,
    /// Created on the first frame, once the parameter sets are known.
    mp4: Option<Mp4Writer<BufWriter<File>>>,
    file: Option<File>,
    frames: u64,
}

impl VideoWriter {
    /// A writer of `width × height` frames (both even) at `fps`, with a key frame every two
    /// seconds. The encoder runs at its fixed default quantiser (rate control off: with
    /// rate control OpenH264 would skip frames to meet a bit rate, and every frame must
    /// stay), about 0.3 bit per pixel on street scenes.
    pub fn create(path: &Path, width: u32, height: u32, fps: f64) -> Result<Self, SimError> {
        let error = |message: String| SimError::Encode {
            path: path.to_owned(),
            message,
        };
        if !width.is_multiple_of(2) || !height.is_multiple_of(2) || width == 0 || height == 0 {
            return Err(error(format!(
                "H.264 needs an even, non-zero frame size, got {width}×{height}"
            )));
        }
        let config = EncoderConfig::new()
            .max_frame_rate(FrameRate::from_hz(fps as f32))
            .rate_control_mode(RateControlMode::Off)
            .skip_frames(false)
            .intra_frame_period(IntraFramePeriod::from_num_frames(
                (2.0 * fps).round().max(1.0) as u32,
            ));
        let encoder = Encoder::with_api_config(OpenH264API::from_source(), config)
            .map_err(|e| error(format!("cannot start the H.264 encoder: {e}")))?;
        let file = File::create(path).map_err(SimError::writing(path))?;
        Ok(Self {
            path: path.to_owned(),
            encoder,
            yuv: YUVBuffer::new(width as usize, height as usize),
            width,
            height,
            timescale: (fps * f64::from(TICKS_PER_FRAME)).round() as u32,
            mp4: None,
            file: Some(file),
            frames: 0,
        })
    }

    fn error(&self, message: impl std::fmt::Display) -> SimError {
        SimError::Encode {
            path: self.path.clone(),
            message: message.to_string(),
        }
    }

    /// Encodes and appends one frame.
    pub fn push(&mut self, image: &RgbImage) -> Result<(), SimError> {
        if image.dimensions() != (self.width, self.height) {
            return Err(self.error(format!(
                "frame {} is {}×{}, the video is {}×{}",
                self.frames,
                image.width(),
                image.height(),
                self.width,
                self.height
            )));
        }
        self.yuv.read_rgb8(RgbSliceU8::new(
            image.as_raw(),
            (self.width as usize, self.height as usize),
        ));
        let path = &self.path;
        let encoded = self
            .encoder
            .encode(&self.yuv)
            .map_err(|e| SimError::Encode {
                path: path.clone(),
                message: e.to_string(),
            })?;
        let frame_type = encoded.frame_type();
        let nals = encoded.to_vec();
        if matches!(frame_type, FrameType::Skip | FrameType::Invalid) {
            return Err(self.error(format!("the encoder dropped frame {}", self.frames)));
        }
        // Parameter sets go into `avcC` and stay in-band ahead of each key frame too, as
        // dashcams write them: a file cut off before its index can then still be decoded.
        let mut sample = Vec::with_capacity(nals.len());
        let (mut sps, mut pps) = (None, None);
        for nal in openh264::nal_units(&nals) {
            let body = strip_start_code(nal);
            match body.first().map(|b| b & 0x1f) {
                Some(NAL_SPS) => sps = Some(body.to_vec()),
                Some(NAL_PPS) => pps = Some(body.to_vec()),
                Some(_) => {}
                None => continue,
            }
            sample.extend_from_slice(&(body.len() as u32).to_be_bytes());
            sample.extend_from_slice(body);
        }
        if self.mp4.is_none() {
            let (Some(sps), Some(pps)) = (sps, pps) else {
                return Err(self.error("the first encoded frame carries no parameter sets"));
            };
            self.start(sps, pps)?;
        }
        let mp4 = self.mp4.as_mut().expect("started above");
        let written = mp4.write_sample(
            1,
            &Mp4Sample {
                start_time: self.frames * u64::from(TICKS_PER_FRAME),
                duration: TICKS_PER_FRAME,
                rendering_offset: 0,
                is_sync: matches!(frame_type, FrameType::IDR | FrameType::I),
                bytes: sample.into(),
            },
        );
        written.map_err(|e| self.error(e))?;
        self.frames += 1;
        Ok(())
    }

    fn start(&mut self, sps: Vec<u8>, pps: Vec<u8>) -> Result<(), SimError> {
        let file = self.file.take().expect("the file is taken once");
        let config = Mp4Config {
            major_brand: FourCC::from(*b"isom"),
            minor_version: 512,
            compatible_brands: [b"isom", b"iso2", b"avc1", b"mp41"]
                .map(|b| FourCC::from(*b))
                .to_vec(),
            timescale: 1000,
        };
        let mut mp4 =
            Mp4Writer::write_start(BufWriter::new(file), &config).map_err(|e| self.error(e))?;
        let track = TrackConfig {
            track_type: TrackType::Video,
            timescale: self.timescale,
            language: "und".into(),
            media_conf: MediaConfig::AvcConfig(AvcConfig {
                width: self.width as u16,
                height: self.height as u16,
                seq_param_set: sps,
                pic_param_set: pps,
            }),
        };
        mp4.add_track(&track).map_err(|e| self.error(e))?;
        self.mp4 = Some(mp4);
        Ok(())
    }

    /// Writes the index and closes the file; returns the number of frames.
    pub fn finish(mut self) -> Result<u64, SimError> {
        let Some(mut mp4) = self.mp4.take() else {
            return Err(self.error("a video needs at least one frame"));
        };
        mp4.write_end().map_err(|e| self.error(e))?;
        let mut writer = mp4.into_writer();
        std::io::Write::flush(&mut writer).map_err(SimError::writing(&self.path))?;
        Ok(self.frames)
    }
}

/// A NAL unit without its Annex-B start code.
fn strip_start_code(nal: &[u8]) -> &[u8] {
    nal.strip_prefix(&[0, 0, 0, 1])
        .or_else(|| nal.strip_prefix(&[0, 0, 1]))
        .unwrap_or(nal)
}

/// What decoding a written video found.
#[derive(Debug, Clone, PartialEq)]
pub struct DecodedVideo {
    pub width: usize,
    pub height: usize,
    /// Mean luma (0–255) of every decoded frame, in order.
    pub mean_luma: Vec<f64>,
}

/// Decodes every frame of an MP4's first video track with OpenH264, to check a written
/// video (frame count, size, content) the way a player would read it.
pub fn decode(path: &Path) -> Result<DecodedVideo, SimError> {
    use openh264::decoder::Decoder;
    use openh264::formats::YUVSource;
    let error = |message: String| SimError::Decode {
        path: path.to_owned(),
        message,
    };
    let file = File::open(path).map_err(SimError::reading(path))?;
    let size = file.metadata().map_err(SimError::reading(path))?.len();
    let mut reader = mp4::Mp4Reader::read_header(std::io::BufReader::new(file), size)
        .map_err(|e| error(e.to_string()))?;
    let track_id = *reader
        .tracks()
        .keys()
        .next()
        .ok_or_else(|| error("no track".into()))?;
    let track = &reader.tracks()[&track_id];
    let mut annex_b = Vec::new();
    for set in [
        track.sequence_parameter_set(),
        track.picture_parameter_set(),
    ] {
        annex_b.extend_from_slice(&[0, 0, 0, 1]);
        annex_b.extend_from_slice(set.map_err(|e| error(e.to_string()))?);
    }
    let count = reader
        .sample_count(track_id)
        .map_err(|e| error(e.to_string()))?;
    let mut decoder = Decoder::new().map_err(|e| error(e.to_string()))?;
    let mut decoded = DecodedVideo {
        width: 0,
        height: 0,
        mean_luma: Vec::new(),
    };
    let mut record = |yuv: &openh264::decoder::DecodedYUV| {
        let (width, height) = yuv.dimensions();
        let stride = yuv.strides().0;
        let sum: f64 = (0..height)
            .flat_map(|r| &yuv.y()[r * stride..r * stride + width])
            .map(|&v| f64::from(v))
            .sum();
        (decoded.width, decoded.height) = (width, height);
        decoded.mean_luma.push(sum / (width * height) as f64);
    };
    for id in 1..=count {
        let sample = reader
            .read_sample(track_id, id)
            .map_err(|e| error(e.to_string()))?
            .ok_or_else(|| error(format!("sample {id} is missing")))?;
        let mut rest = &sample.bytes[..];
        while rest.len() >= 4 {
            let len = u32::from_be_bytes([rest[0], rest[1], rest[2], rest[3]]) as usize;
            let nal = rest
                .get(4..4 + len)
                .ok_or_else(|| error(format!("sample {id} is truncated")))?;
            annex_b.extend_from_slice(&[0, 0, 0, 1]);
            annex_b.extend_from_slice(nal);
            rest = &rest[4 + len..];
        }
        if let Some(yuv) = decoder
            .decode(&annex_b)
            .map_err(|e| error(format!("sample {id}: {e}")))?
        {
            record(&yuv);
        }
        annex_b.clear();
    }
    for yuv in decoder
        .flush_remaining()
        .map_err(|e| error(e.to_string()))?
    {
        record(&yuv);
    }
    Ok(decoded)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn video_decodes_back_to_the_same_frames() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("video.mp4");
        let mut writer = VideoWriter::create(&path, 160, 96, 15.0).unwrap();
        for k in 0..37u32 {
            let image = RgbImage::from_fn(160, 96, |x, y| {
                image::Rgb([
                    ((x + 3 * k) % 256) as u8,
                    (y * 2) as u8,
                    if k == 0 { 200 } else { 40 },
                ])
            });
            writer.push(&image).unwrap();
        }
        assert_eq!(writer.finish().unwrap(), 37);
        let decoded = decode(&path).unwrap();
        assert_eq!(
            (decoded.mean_luma.len(), decoded.width, decoded.height),
            (37, 160, 96)
        );
        let (first, second) = (decoded.mean_luma[0], decoded.mean_luma[1]);
        assert!(
            first > second + 5.0,
            "the bluer first frame survives: luma {first} then {second}"
        );
    }

    #[test]
    fn odd_sizes_and_wrong_frames_are_errors() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("video.mp4");
        let odd = VideoWriter::create(&path, 161, 96, 15.0)
            .err()
            .unwrap()
            .to_string();
        assert!(odd.contains("video.mp4") && odd.contains("even"), "{odd}");
        let mut writer = VideoWriter::create(&path, 160, 96, 15.0).unwrap();
        let wrong = writer
            .push(&RgbImage::new(320, 96))
            .unwrap_err()
            .to_string();
        assert!(wrong.contains("320×96"), "{wrong}");
    }
}

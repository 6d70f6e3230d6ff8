//! H.264 decoding with OpenH264 (built from source), and raw Annex-B streams from any
//! reader: a file, or stdin for `mapfix serve -`.
//!
//! OpenH264 takes Annex-B input (start-code prefixed NAL units), one access unit (picture)
//! at a time. A stream is split into access units where a new picture begins: at an
//! access unit delimiter, parameter set or SEI after a slice, or at a slice whose
//! `first_mb_in_slice` is 0.

use super::{check_fps, Frame, FrameInfo, FrameSource};
use crate::IoError;
use image::RgbImage;
use openh264::decoder::{DecodedYUV, Decoder, DecoderConfig, Flush};
use openh264::formats::YUVSource;
use openh264::OpenH264API;
use std::collections::VecDeque;
use std::io::Read;
use std::path::{Path, PathBuf};

pub(super) const START_CODE: [u8; 4] = [0, 0, 0, 1];
const NAL_SLICE: u8 = 1;
const NAL_IDR_SLICE: u8 = 5;
const NAL_SEI: u8 = 6;
const NAL_SPS: u8 = 7;
const NAL_PPS: u8 = 8;
const NAL_DELIMITER: u8 = 9;
/// Bytes asked of the reader at a time.
const READ_CHUNK: usize = 1 << 16;

/// OpenH264 turning access units into RGB pictures in presentation order.
pub(super) struct H264Decoder {
    decoder: Decoder,
}

impl H264Decoder {
    pub(super) fn new() -> Result<Self, String> {
        // No forced flush after each picture: a stream with B-frames holds pictures back
        // until their turn, and forcing them out would put them out of order.
        let config = DecoderConfig::new().flush_after_decode(Flush::NoFlush);
        let decoder = Decoder::with_api_config(OpenH264API::from_source(), config)
            .map_err(|e| format!("cannot start the H.264 decoder: {e}"))?;
        Ok(Self { decoder })
    }

    /// Decodes one Annex-B access unit; the picture that comes out next, if one is ready.
    pub(super) fn decode(&mut self, access_unit: &[u8]) -> Result<Option<RgbImage>, String> {
        let picture = self
            .decoder
            .decode(access_unit)
            .map_err(|e| format!("cannot decode H.264: {e}"))?;
        Ok(picture.map(|yuv| to_rgb(&yuv)))
    }

    /// The pictures still held back at the end of the stream.
    pub(super) fn flush(&mut self) -> Result<Vec<RgbImage>, String> {
        let pictures = self
            .decoder
            .flush_remaining()
            .map_err(|e| format!("cannot decode H.264 at the end of the stream: {e}"))?;
        Ok(pictures.iter().map(to_rgb).collect())
    }
}

/// OpenH264's own I420 → RGB conversion (SIMD where the width allows).
fn to_rgb(yuv: &DecodedYUV) -> RgbImage {
    let (width, height) = yuv.dimensions();
    let mut rgb = vec![0; width * height * 3];
    yuv.write_rgb8(&mut rgb);
    RgbImage::from_raw(width as u32, height as u32, rgb).expect("the buffer is sized above")
}

/// The NAL unit type of a NAL unit without start code.
fn nal_type(nal: &[u8]) -> Option<u8> {
    nal.first().map(|b| b & 0x1f)
}

/// Whether a NAL unit starts a new access unit when the current one already has a slice.
fn starts_access_unit(nal: &[u8]) -> bool {
    match nal_type(nal) {
        Some(NAL_DELIMITER | NAL_SPS | NAL_PPS | NAL_SEI) => true,
        // first_mb_in_slice is ue(v): 0 is coded as the single bit 1.
        Some(NAL_SLICE | NAL_IDR_SLICE) => nal.get(1).is_some_and(|b| b & 0x80 != 0),
        _ => false,
    }
}

fn is_slice(nal: &[u8]) -> bool {
    matches!(nal_type(nal), Some(NAL_SLICE | NAL_IDR_SLICE))
}

/// The position of the next `00 00 01` start code at or after `from`.
pub(super) fn find_start_code(bytes: &[u8], from: usize) -> Option<usize> {
    let mut i = from;
    while i + 3 <= bytes.len() {
        match bytes[i + 2] {
            // Neither this window nor the next can hold a start code ending here.
            b if b > 1 => i += 3,
            1 if bytes[i] == 0 && bytes[i + 1] == 0 => return Some(i),
            _ => i += 1,
        }
    }
    None
}

/// Frames from a raw Annex-B H.264 stream, timed by a given frame rate (the stream
/// carries no time). Opening decodes up to the first picture, to learn the frame size.
pub struct AnnexBSource<R> {
    reader: R,
    info: FrameInfo,
    decoder: H264Decoder,
    /// Bytes read and not yet split into NAL units; `buffer[..nal_start]` is consumed.
    buffer: Vec<u8>,
    /// Where the NAL unit being gathered starts (just after its start code), if one is.
    nal_start: Option<usize>,
    /// The access unit being gathered, in Annex-B form.
    access_unit: Vec<u8>,
    access_unit_has_slice: bool,
    access_units: u64,
    end_of_stream: bool,
    ready: VecDeque<RgbImage>,
    next_index: u64,
    finished: bool,
}

impl<R: Read + Send> AnnexBSource<R> {
    /// Reads H.264 from `reader`; `name` stands for the stream in errors (a path, or `-`
    /// for stdin).
    pub fn new(reader: R, name: &Path, fps: f64) -> Result<Self, IoError> {
        let fps = check_fps(name, fps)?;
        let decoder = H264Decoder::new().map_err(|e| IoError::file(name, e))?;
        let mut source = AnnexBSource {
            reader,
            info: FrameInfo {
                path: name.to_owned(),
                width: 0,
                height: 0,
                fps,
                frame_count: None,
                creation_unix_s: None,
            },
            decoder,
            buffer: Vec::with_capacity(2 * READ_CHUNK),
            nal_start: None,
            access_unit: Vec::new(),
            access_unit_has_slice: false,
            access_units: 0,
            end_of_stream: false,
            ready: VecDeque::new(),
            next_index: 0,
            finished: false,
        };
        source.fill()?;
        let first = source.ready.front().ok_or_else(|| {
            IoError::file(
                name,
                "no H.264 picture in the stream (is it raw Annex-B H.264?)",
            )
        })?;
        (source.info.width, source.info.height) = first.dimensions();
        Ok(source)
    }

    /// The stream being read.
    pub(super) fn reader(&self) -> &R {
        &self.reader
    }

    fn path(&self) -> PathBuf {
        self.info.path.clone()
    }

    /// Reads and decodes until a picture is ready or the stream has ended.
    fn fill(&mut self) -> Result<(), IoError> {
        while self.ready.is_empty() && !self.end_of_stream {
            let nal_end = self
                .nal_start
                .and_then(|start| find_start_code(&self.buffer, start));
            match (self.nal_start, nal_end) {
                (Some(start), Some(end)) => {
                    // Trailing zeros before a start code belong to the next one.
                    let mut body_end = end;
                    while body_end > start && self.buffer[body_end - 1] == 0 {
                        body_end -= 1;
                    }
                    self.take_nal(start, body_end)?;
                    self.nal_start = Some(end + 3);
                }
                (None, _) => match find_start_code(&self.buffer, 0) {
                    Some(at) => self.nal_start = Some(at + 3),
                    None => {
                        // Keep a possible start code cut by the chunk boundary.
                        let keep = self.buffer.len().min(2);
                        self.buffer.drain(..self.buffer.len() - keep);
                        self.read_more()?;
                    }
                },
                (Some(_), None) => self.read_more()?,
            }
        }
        Ok(())
    }

    /// Appends the next chunk of the stream; at its end, decodes what is left.
    fn read_more(&mut self) -> Result<(), IoError> {
        if let Some(start) = self.nal_start {
            // Drop what was consumed, so the buffer holds one NAL unit and a chunk at most.
            self.buffer.drain(..start);
            self.nal_start = Some(0);
        }
        let filled = self.buffer.len();
        self.buffer.resize(filled + READ_CHUNK, 0);
        let read = loop {
            match self.reader.read(&mut self.buffer[filled..]) {
                Ok(n) => break n,
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                Err(e) => {
                    self.buffer.truncate(filled);
                    return Err(IoError::read(self.path())(e));
                }
            }
        };
        self.buffer.truncate(filled + read);
        if read == 0 {
            self.end_of_stream = true;
            if let Some(start) = self.nal_start.take() {
                let end = self.buffer.len();
                self.take_nal(start, end)?;
            }
            self.decode_access_unit()?;
            let rest = self.decoder.flush().map_err(|e| self.stream_error(e))?;
            self.ready.extend(rest);
        }
        Ok(())
    }

    /// Adds the NAL unit `buffer[start..end]` to the access unit, decoding the access
    /// unit first if this NAL unit begins the next one.
    fn take_nal(&mut self, start: usize, end: usize) -> Result<(), IoError> {
        let nal = &self.buffer[start..end];
        if nal.is_empty() {
            return Ok(());
        }
        if starts_access_unit(nal) && self.access_unit_has_slice {
            self.decode_access_unit()?;
        }
        let nal = &self.buffer[start..end];
        self.access_unit_has_slice |= is_slice(nal);
        self.access_unit.extend_from_slice(&START_CODE);
        self.access_unit.extend_from_slice(nal);
        Ok(())
    }

    fn decode_access_unit(&mut self) -> Result<(), IoError> {
        if self.access_unit.is_empty() {
            return Ok(());
        }
        self.access_units += 1;
        let picture = self
            .decoder
            .decode(&self.access_unit)
            .map_err(|e| self.stream_error(e))?;
        self.access_unit.clear();
        self.access_unit_has_slice = false;
        self.ready.extend(picture);
        Ok(())
    }

    fn stream_error(&self, message: String) -> IoError {
        IoError::invalid(
            self.path(),
            format!(
                "access unit {} (after frame {})",
                self.access_units,
                self.next_index + self.ready.len() as u64
            ),
            message,
        )
    }
}

impl<R: Read + Send> Iterator for AnnexBSource<R> {
    type Item = Result<Frame, IoError>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.finished {
            return None;
        }
        if let Err(e) = self.fill() {
            self.finished = true;
            return Some(Err(e));
        }
        let Some(image) = self.ready.pop_front() else {
            self.finished = true;
            return None;
        };
        let index = self.next_index;
        self.next_index += 1;
        Some(Ok(Frame {
            index,
            time_s: index as f64 / self.info.fps,
            image,
        }))
    }
}

impl<R: Read + Send> FrameSource for AnnexBSource<R> {
    fn info(&self) -> &FrameInfo {
        &self.info
    }
}

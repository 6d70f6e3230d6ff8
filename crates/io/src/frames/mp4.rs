//! H.264 video in MP4 (and MOV) files, streamed sample by sample.
//!
//! The `mp4` crate parses the index (`moov`); the top-level boxes are walked here, so that
//! a file cut off inside its media data still opens when its index comes first, and the
//! sample table is flattened once into (offset, size, presentation time) per sample, so
//! that reading sample n costs the same for every n. Samples are AVCC (length-prefixed NAL
//! units); they are rewritten to Annex-B, with the parameter sets from the track's `avcC`
//! box ahead of the first, for OpenH264.

use super::h264::{AnnexBSource, H264Decoder, START_CODE};
use super::{Frame, FrameInfo, FrameSource};
use crate::IoError;
use image::RgbImage;
use mp4::{MoovBox, ReadBox};
use std::cmp::Reverse;
use std::collections::{BinaryHeap, VecDeque};
use std::fs::File;
use std::io::{BufReader, Cursor, Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};

/// Limits past which an index is taken as corrupt rather than allocated: a 1 GiB `moov`,
/// and 10 million samples (almost 4 days at 30 fps; 240 MB of sample table).
const MAX_INDEX_BYTES: u64 = 1 << 30;
const MAX_SAMPLES: usize = 10_000_000;
/// Seconds from 1904-01-01 (MP4's epoch) to 1970-01-01.
const MP4_EPOCH_TO_UNIX_S: u64 = 2_082_844_800;

/// A top-level box of the file.
#[derive(Clone, Copy)]
struct TopBox {
    kind: [u8; 4],
    start: u64,
    header_len: u64,
    /// Where the box says it ends; past the end of the file when the file is cut off.
    end: u64,
}

/// An MP4 file's top-level boxes.
struct Layout {
    path: PathBuf,
    file: File,
    len: u64,
    boxes: Vec<TopBox>,
}

impl Layout {
    fn read(path: &Path) -> Result<Layout, IoError> {
        let mut file = File::open(path).map_err(IoError::read(path))?;
        let len = file.metadata().map_err(IoError::read(path))?.len();
        let boxes = top_level_boxes(&mut file, len).map_err(IoError::read(path))?;
        if boxes.first().map(|b| &b.kind) != Some(b"ftyp") {
            return Err(IoError::file(
                path,
                "not an MP4 file: it does not begin with an 'ftyp' box",
            ));
        }
        Ok(Layout {
            path: path.to_owned(),
            file,
            len,
            boxes,
        })
    }

    fn find(&self, kind: &[u8; 4]) -> Option<TopBox> {
        self.boxes.iter().find(|b| &b.kind == kind).copied()
    }

    /// The media data box of a file cut off inside it.
    fn cut_media(&self) -> Option<TopBox> {
        self.find(b"mdat").filter(|mdat| mdat.end > self.len)
    }

    /// Why a file without an index cannot be read; `detail` adds why reading it as a
    /// stream failed.
    fn no_index_error(&self, detail: Option<&str>) -> IoError {
        let mut message = match self.cut_media() {
            Some(_) => "the recording is cut off before its index ('moov' box), as when a \
                        camera loses power while recording"
                .to_owned(),
            None => "no index ('moov' box) in the file".to_owned(),
        };
        if let Some(detail) = detail {
            message = format!("{message}; {detail}");
        }
        IoError::file(&self.path, message)
    }
}

/// One sample of the video track.
#[derive(Clone, Copy, Debug)]
pub(super) struct Sample {
    pub(super) offset: u64,
    pub(super) size: u32,
    /// Presentation time in track ticks (decode time + composition offset).
    time: i64,
}

/// Frames of the first H.264 video track of an MP4 file, timed by the container.
pub struct Mp4Source {
    info: FrameInfo,
    file: File,
    file_len: u64,
    pub(super) samples: Vec<Sample>,
    timescale: f64,
    /// NAL unit length field size in the samples (1, 2 or 4 bytes).
    length_size: usize,
    /// The track's SPS and PPS in Annex-B form, sent ahead of the first sample.
    parameter_sets: Vec<u8>,
    decoder: H264Decoder,
    next_sample: usize,
    /// Reused buffers: the sample as stored, and as Annex-B.
    sample: Vec<u8>,
    access_unit: Vec<u8>,
    /// Presentation times of samples given to the decoder whose picture is not out yet:
    /// the decoder emits pictures in presentation order, so each takes the earliest.
    pending_times: BinaryHeap<Reverse<i64>>,
    first_time: Option<i64>,
    ready: VecDeque<RgbImage>,
    next_index: u64,
    flushed: bool,
    finished: bool,
}

impl Mp4Source {
    /// Opens `path` and reads its index. A file cut off inside its media data opens when
    /// the index comes first (frames up to the damage decode); one cut off before its
    /// index (the usual damage of a recording that lost power) is an error here, and read
    /// without the index by `frames::open`.
    pub fn open(path: &Path) -> Result<Self, IoError> {
        let layout = Layout::read(path)?;
        match layout.find(b"moov") {
            Some(moov) => Mp4Source::with_index(layout, moov),
            None => Err(layout.no_index_error(None)),
        }
    }

    fn with_index(layout: Layout, moov: TopBox) -> Result<Self, IoError> {
        let Layout {
            path,
            mut file,
            len: file_len,
            ..
        } = layout;
        let path = &path;
        if moov.end > file_len {
            return Err(IoError::file(
                path,
                format!(
                    "the file ends at byte {file_len}, inside its index ('moov' box, bytes {}‥{})",
                    moov.start, moov.end
                ),
            ));
        }
        if moov.end - moov.start > MAX_INDEX_BYTES {
            return Err(IoError::file(
                path,
                format!(
                    "the index ('moov' box) claims {} bytes: corrupt",
                    moov.end - moov.start
                ),
            ));
        }
        let mut moov_bytes = vec![0; (moov.end - moov.start) as usize];
        file.seek(SeekFrom::Start(moov.start))
            .and_then(|_| file.read_exact(&mut moov_bytes))
            .map_err(IoError::read(path))?;
        // The codec first, from the raw boxes: the `mp4` crate fails on some entries it
        // half knows, and says nothing of those it does not know.
        match video_sample_entry(&moov_bytes[moov.header_len as usize..]) {
            None => return Err(IoError::file(path, "no video track in the file")),
            Some(kind) if &kind != b"avc1" => {
                return Err(IoError::file(path, unsupported_codec(kind)))
            }
            Some(_) => {}
        }
        let index = |message: String| IoError::invalid(path, "index ('moov' box)", message);
        let mut cursor = Cursor::new(&moov_bytes[..]);
        cursor.set_position(moov.header_len);
        let parsed = MoovBox::read_box(&mut cursor, moov.end - moov.start)
            .map_err(|e| index(format!("cannot parse: {e}")))?;
        let (number, avc1) = (parsed.traks.iter().enumerate())
            .find(|(_, t)| &t.mdia.hdlr.handler_type.value == b"vide")
            .and_then(|(number, t)| Some((number, t.mdia.minf.stbl.stsd.avc1.as_ref()?)))
            .ok_or_else(|| index("the video track's avc1 entry did not parse".into()))?;
        let trak = &parsed.traks[number];
        let timescale = trak.mdia.mdhd.timescale;
        if timescale == 0 {
            return Err(index("the video track's time scale is 0".into()));
        }
        let samples =
            sample_table(&parsed, number).map_err(|e| index(format!("video track: {e}")))?;
        if samples.is_empty() {
            return Err(IoError::file(path, "the video track has no samples"));
        }
        let avcc = &avc1.avcc;
        let mut parameter_sets = Vec::new();
        for set in avcc
            .sequence_parameter_sets
            .iter()
            .chain(&avcc.picture_parameter_sets)
        {
            parameter_sets.extend_from_slice(&START_CODE);
            parameter_sets.extend_from_slice(&set.bytes);
        }
        let length_size = usize::from(avcc.length_size_minus_one & 3) + 1;
        if length_size == 3 {
            return Err(index("avcC gives NAL unit lengths of 3 bytes".into()));
        }
        let span_ticks: u64 = (trak.mdia.minf.stbl.stts.entries.iter())
            .map(|e| u64::from(e.sample_count) * u64::from(e.sample_delta))
            .sum();
        if span_ticks == 0 {
            return Err(index("the video track's samples all last 0 ticks".into()));
        }
        let fps = samples.len() as f64 * f64::from(timescale) / span_ticks as f64;
        let creation = parsed.mvhd.creation_time;
        let creation_unix_s =
            (creation > MP4_EPOCH_TO_UNIX_S).then(|| (creation - MP4_EPOCH_TO_UNIX_S) as f64);
        let decoder = H264Decoder::new().map_err(|e| IoError::file(path, e))?;
        Ok(Mp4Source {
            info: FrameInfo {
                path: path.to_owned(),
                width: u32::from(avc1.width),
                height: u32::from(avc1.height),
                fps,
                frame_count: Some(samples.len() as u64),
                creation_unix_s,
            },
            file,
            file_len,
            samples,
            timescale: f64::from(timescale),
            length_size,
            parameter_sets,
            decoder,
            next_sample: 0,
            sample: Vec::new(),
            access_unit: Vec::new(),
            pending_times: BinaryHeap::new(),
            first_time: None,
            ready: VecDeque::new(),
            next_index: 0,
            flushed: false,
            finished: false,
        })
    }

    fn path(&self) -> PathBuf {
        self.info.path.clone()
    }

    fn sample_error(&self, number: usize, message: impl Into<String>) -> IoError {
        IoError::invalid(
            self.path(),
            format!("video sample {} of {}", number + 1, self.samples.len()),
            message,
        )
    }

    /// Reads, converts and decodes the next sample.
    fn decode_next_sample(&mut self) -> Result<(), IoError> {
        let number = self.next_sample;
        let sample = self.samples[number];
        self.next_sample += 1;
        let end = sample.offset + u64::from(sample.size);
        if end > self.file_len {
            return Err(self.sample_error(
                number,
                format!(
                    "the file ends at byte {}, before this sample's end at byte {end}: \
                     the recording is cut off",
                    self.file_len
                ),
            ));
        }
        self.sample.resize(sample.size as usize, 0);
        self.file
            .seek(SeekFrom::Start(sample.offset))
            .and_then(|_| self.file.read_exact(&mut self.sample))
            .map_err(|e| self.sample_error(number, format!("cannot read: {e}")))?;
        self.access_unit.clear();
        if number == 0 {
            self.access_unit.extend_from_slice(&self.parameter_sets);
        }
        avcc_to_annex_b(&self.sample, self.length_size, &mut self.access_unit)
            .map_err(|e| self.sample_error(number, e))?;
        self.pending_times.push(Reverse(sample.time));
        let picture = self
            .decoder
            .decode(&self.access_unit)
            .map_err(|e| self.sample_error(number, e))?;
        self.ready.extend(picture);
        Ok(())
    }

    fn next_frame(&mut self) -> Result<Option<Frame>, IoError> {
        loop {
            if let Some(image) = self.ready.pop_front() {
                return Ok(Some(self.frame(image)));
            }
            if self.next_sample < self.samples.len() {
                self.decode_next_sample()?;
            } else if !self.flushed {
                self.flushed = true;
                let rest = self
                    .decoder
                    .flush()
                    .map_err(|e| IoError::file(self.path(), e))?;
                self.ready.extend(rest);
            } else {
                return Ok(None);
            }
        }
    }

    fn frame(&mut self, image: RgbImage) -> Frame {
        let index = self.next_index;
        self.next_index += 1;
        let time_s = match self.pending_times.pop() {
            Some(Reverse(time)) => {
                let first = *self.first_time.get_or_insert(time);
                (time - first) as f64 / self.timescale
            }
            // More pictures than samples: only a broken stream does that; keep counting.
            None => index as f64 / self.info.fps,
        };
        Frame {
            index,
            time_s,
            image,
        }
    }
}

impl Iterator for Mp4Source {
    type Item = Result<Frame, IoError>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.finished {
            return None;
        }
        let next = self.next_frame().transpose();
        if !matches!(next, Some(Ok(_))) {
            self.finished = true;
        }
        next
    }
}

impl FrameSource for Mp4Source {
    fn info(&self) -> &FrameInfo {
        &self.info
    }
}

/// The frames of an MP4 file: through its index, or, for a recording cut off before its
/// index, from its media data read as a stream timed by `fps`. That needs the samples to
/// carry their parameter sets in-band, as many dashcams write them; without them nothing
/// can be decoded.
pub(super) fn open(path: &Path, fps: f64) -> Result<Box<dyn FrameSource>, IoError> {
    let layout = Layout::read(path)?;
    if let Some(moov) = layout.find(b"moov") {
        return Ok(Box::new(Mp4Source::with_index(layout, moov)?));
    }
    let Some(mdat) = layout.cut_media() else {
        return Err(layout.no_index_error(None));
    };
    let mut media = UnindexedMedia {
        file: BufReader::new(layout.file.try_clone().map_err(IoError::read(path))?),
        position: mdat.start + mdat.header_len,
        end: layout.len,
        start_code_left: 0,
        nal_left: 0,
        cut_at: None,
    };
    media.skip_filler().map_err(IoError::read(path))?;
    match AnnexBSource::new(media, path, fps) {
        Ok(stream) => Ok(Box::new(Unindexed {
            stream,
            finished: false,
        })),
        Err(_) => Err(layout.no_index_error(Some(
            "read without it, its media data gives no picture: the samples carry no \
             parameter sets (SPS/PPS) of their own, or are not H.264",
        ))),
    }
}

/// The media data of an MP4 without index as an Annex-B stream: each sample's
/// length-prefixed NAL units (4-byte lengths: the index that could say otherwise is lost)
/// get start codes. It ends before the first NAL unit the file's end cuts.
struct UnindexedMedia {
    file: BufReader<File>,
    position: u64,
    end: u64,
    /// Bytes of the current NAL unit's start code, then of its body, still to hand out.
    start_code_left: usize,
    nal_left: u64,
    /// Where the file's end cut a NAL unit, once reached.
    cut_at: Option<u64>,
}

impl UnindexedMedia {
    /// Skips the filler box some writers leave at the start of the media data (the `mp4`
    /// crate's writer keeps an 8-byte `wide` box there).
    fn skip_filler(&mut self) -> std::io::Result<()> {
        let mut header = [0u8; 8];
        self.file.seek(SeekFrom::Start(self.position))?;
        if self.position + 8 <= self.end {
            self.file.read_exact(&mut header)?;
            if matches!(
                &header,
                [0, 0, 0, 8, b'w', b'i', b'd', b'e'] | [0, 0, 0, 8, b'f', b'r', b'e', b'e']
            ) {
                self.position += 8;
            }
        }
        self.file.seek(SeekFrom::Start(self.position)).map(|_| ())
    }

    /// Moves to the next non-empty NAL unit; false at the end of the data.
    fn next_nal(&mut self) -> std::io::Result<bool> {
        loop {
            if self.position + 4 > self.end {
                if self.position < self.end {
                    self.cut_at = Some(self.position);
                }
                return Ok(false);
            }
            let mut length = [0u8; 4];
            self.file.read_exact(&mut length)?;
            let length = u64::from(u32::from_be_bytes(length));
            if self.position + 4 + length > self.end {
                self.cut_at = Some(self.position);
                return Ok(false);
            }
            self.position += 4;
            if length > 0 {
                (self.start_code_left, self.nal_left) = (START_CODE.len(), length);
                return Ok(true);
            }
        }
    }
}

impl Read for UnindexedMedia {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        if self.start_code_left == 0 && self.nal_left == 0 && !self.next_nal()? {
            return Ok(0);
        }
        if self.start_code_left > 0 {
            let from = START_CODE.len() - self.start_code_left;
            let n = self.start_code_left.min(buf.len());
            buf[..n].copy_from_slice(&START_CODE[from..from + n]);
            self.start_code_left -= n;
            return Ok(n);
        }
        let want = buf
            .len()
            .min(usize::try_from(self.nal_left).unwrap_or(usize::MAX));
        let n = self.file.read(&mut buf[..want])?;
        if n == 0 {
            return Err(std::io::ErrorKind::UnexpectedEof.into());
        }
        self.nal_left -= n as u64;
        self.position += n as u64;
        Ok(n)
    }
}

/// The frames of a cut-off MP4 read without its index, then the error saying where it
/// was cut.
struct Unindexed {
    stream: AnnexBSource<UnindexedMedia>,
    finished: bool,
}

impl Iterator for Unindexed {
    type Item = Result<Frame, IoError>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.finished {
            return None;
        }
        match self.stream.next() {
            Some(Ok(frame)) => Some(Ok(frame)),
            Some(Err(e)) => {
                self.finished = true;
                Some(Err(e))
            }
            None => {
                self.finished = true;
                let cut_at = self.stream.reader().cut_at?;
                Some(Err(IoError::invalid(
                    &self.stream.info().path,
                    format!("byte {cut_at}"),
                    "the recording is cut off here, inside a frame and before its index \
                     ('moov' box); the frames before were read without the index, timed by \
                     the camera's frame rate",
                )))
            }
        }
    }
}

impl FrameSource for Unindexed {
    fn info(&self) -> &FrameInfo {
        self.stream.info()
    }
}

/// The top-level boxes from the file's start, up to the end of the file or the first
/// header that cannot be a box.
fn top_level_boxes(file: &mut File, file_len: u64) -> std::io::Result<Vec<TopBox>> {
    let mut boxes = Vec::new();
    let mut start = 0;
    while start + 8 <= file_len {
        let mut header = [0u8; 16];
        file.seek(SeekFrom::Start(start))?;
        let available = (file_len - start).min(16) as usize;
        file.read_exact(&mut header[..available])?;
        let kind: [u8; 4] = header[4..8].try_into().expect("4 bytes");
        if !kind.iter().all(|b| b.is_ascii_graphic() || *b == b' ') {
            break;
        }
        let (size, header_len) = match u32::from_be_bytes(header[..4].try_into().expect("4")) {
            0 => (file_len - start, 8),
            1 if available == 16 => (u64::from_be_bytes(header[8..].try_into().expect("8")), 16),
            1 => break,
            size => (u64::from(size), 8),
        };
        // A 64-bit size running past u64 cannot be a box either.
        let Some(end) = start.checked_add(size).filter(|_| size >= header_len) else {
            break;
        };
        boxes.push(TopBox {
            kind,
            start,
            header_len,
            end,
        });
        start = end;
    }
    Ok(boxes)
}

/// The child boxes in a box's payload, as (type, payload); stops at the first malformed.
fn children(mut bytes: &[u8]) -> impl Iterator<Item = ([u8; 4], &[u8])> {
    std::iter::from_fn(move || {
        let size = u32::from_be_bytes(bytes.get(..4)?.try_into().ok()?) as usize;
        let kind: [u8; 4] = bytes.get(4..8)?.try_into().ok()?;
        let (size, header) = match size {
            0 => (bytes.len(), 8),
            1 => (
                usize::try_from(u64::from_be_bytes(bytes.get(8..16)?.try_into().ok()?)).ok()?,
                16,
            ),
            size => (size, 8),
        };
        let payload = bytes.get(header..size)?;
        bytes = &bytes[size..];
        Some((kind, payload))
    })
}

/// The sample entry type (the codec's four-character code) of the first video track in
/// a `moov` payload.
fn video_sample_entry(moov: &[u8]) -> Option<[u8; 4]> {
    let child = |bytes, wanted: &[u8; 4]| {
        children(bytes)
            .find(|(kind, _)| kind == wanted)
            .map(|(_, payload)| payload)
    };
    children(moov)
        .filter(|(kind, _)| kind == b"trak")
        .find_map(|(_, trak)| {
            let mdia = child(trak, b"mdia")?;
            // hdlr: version and flags, pre-defined, then the handler type.
            if child(mdia, b"hdlr")?.get(8..12)? != b"vide" {
                return None;
            }
            let stbl = child(mdia, b"minf").and_then(|b| child(b, b"stbl"))?;
            // stsd: version and flags, entry count, then the entries.
            child(stbl, b"stsd")?.get(12..16)?.try_into().ok()
        })
}

/// What to say about a video track that is not H.264 in an `avc1` entry.
fn unsupported_codec(kind: [u8; 4]) -> String {
    let name = match &kind {
        b"hvc1" | b"hev1" => "HEVC (H.265)",
        b"avc3" => "H.264 with in-band parameter sets (avc3)",
        b"vp08" => "VP8",
        b"vp09" => "VP9",
        b"av01" => "AV1",
        b"mp4v" => "MPEG-4 Part 2",
        b"jpeg" | b"mjpa" | b"mjpb" => "Motion JPEG",
        _ => "an unknown codec",
    };
    format!(
        "the video is {name} ('{}'), which is not supported: only H.264 ('avc1') is; \
         re-encode with e.g. `ffmpeg -i IN -c:v libx264 OUT.mp4`",
        String::from_utf8_lossy(&kind)
    )
}

/// Every sample of track `number`, in decode order: offset and size from the chunk
/// tables, presentation time from the decode-time and composition-offset tables.
fn sample_table(moov: &MoovBox, number: usize) -> Result<Vec<Sample>, String> {
    let stbl = &moov.traks[number].mdia.minf.stbl;
    let count = stbl.stsz.sample_count as usize;
    if count > MAX_SAMPLES {
        return Err(format!("stsz claims {count} samples"));
    }
    let size_of = |i: usize| -> Result<u32, String> {
        if stbl.stsz.sample_size > 0 {
            Ok(stbl.stsz.sample_size)
        } else {
            stbl.stsz.sample_sizes.get(i).copied().ok_or_else(|| {
                format!(
                    "stsz lists {} sizes for {count} samples",
                    stbl.stsz.sample_sizes.len()
                )
            })
        }
    };
    let chunk_offsets: Vec<u64> = match (&stbl.stco, &stbl.co64) {
        (Some(stco), _) => stco.entries.iter().map(|&o| u64::from(o)).collect(),
        (None, Some(co64)) => co64.entries.clone(),
        (None, None) => return Err("no chunk offsets (stco or co64)".into()),
    };
    let mut samples = Vec::with_capacity(count);
    // Offsets: chunk by chunk, each holding the samples its stsc run says.
    for (run, entry) in stbl.stsc.entries.iter().enumerate() {
        let next_first = stbl
            .stsc
            .entries
            .get(run + 1)
            .map_or(chunk_offsets.len() as u64 + 1, |e| u64::from(e.first_chunk));
        if entry.first_chunk == 0 || u64::from(entry.first_chunk) > next_first {
            return Err(format!("stsc entry {} has a bad first chunk", run + 1));
        }
        for chunk in u64::from(entry.first_chunk)..next_first {
            let mut offset = *chunk_offsets.get(chunk as usize - 1).ok_or_else(|| {
                format!("stsc names chunk {chunk}, stco has {}", chunk_offsets.len())
            })?;
            for _ in 0..entry.samples_per_chunk {
                if samples.len() == count {
                    break;
                }
                let size = size_of(samples.len())?;
                samples.push(Sample {
                    offset,
                    size,
                    time: 0,
                });
                // Checked here, so that every sample's end is a valid byte position.
                offset = offset.checked_add(u64::from(size)).ok_or_else(|| {
                    format!("sample {} ends past the largest file offset", samples.len())
                })?;
            }
        }
    }
    if samples.len() != count {
        return Err(format!(
            "the chunk tables hold {} samples, stsz says {count}",
            samples.len()
        ));
    }
    // Times: decode time runs (stts) plus composition offsets (ctts).
    let mut decode_times = stbl
        .stts
        .entries
        .iter()
        .flat_map(|e| (0..e.sample_count).map(move |_| i64::from(e.sample_delta)));
    let mut offsets = stbl
        .ctts
        .iter()
        .flat_map(|ctts| &ctts.entries)
        .flat_map(|e| (0..e.sample_count).map(move |_| i64::from(e.sample_offset)));
    let mut decode_time = 0;
    for (i, sample) in samples.iter_mut().enumerate() {
        let delta = decode_times
            .next()
            .ok_or_else(|| format!("stts times {i} samples of {count}"))?;
        sample.time = decode_time + offsets.next().unwrap_or(0);
        decode_time += delta;
    }
    Ok(samples)
}

/// Appends the length-prefixed NAL units of `sample` to `annex_b` with start codes.
fn avcc_to_annex_b(sample: &[u8], length_size: usize, annex_b: &mut Vec<u8>) -> Result<(), String> {
    let mut rest = sample;
    while !rest.is_empty() {
        let (length, body) = rest
            .split_at_checked(length_size)
            .ok_or("a NAL unit length field is cut off at the sample's end")?;
        let length = length.iter().fold(0usize, |n, &b| n << 8 | usize::from(b));
        let nal = body.get(..length).ok_or_else(|| {
            format!(
                "a NAL unit of {length} bytes runs past the sample's end ({} bytes left): the \
                 sample is corrupt",
                body.len()
            )
        })?;
        annex_b.extend_from_slice(&START_CODE);
        annex_b.extend_from_slice(nal);
        rest = &body[length..];
    }
    Ok(())
}

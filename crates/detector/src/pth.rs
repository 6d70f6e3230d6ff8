//! Reading PyTorch checkpoints (`torch.save` files) into candle tensors.
//!
//! Two container formats exist. Since PyTorch 1.6 a checkpoint is a zip archive, which
//! candle reads itself. Older checkpoints use the *legacy* format: a sequence of pickles
//! (magic number, protocol version, system info, the saved object, the list of storage
//! keys) followed by every storage's raw bytes, each prefixed by its element count.
//! candle's pickle machine parses the pickles; this module reads the storages and cuts
//! each tensor out of its storage honouring its offset and strides, because converted
//! TensorFlow weights are often stored with permuted (HWIO) strides.

use crate::error::{DetectorError, Result};
use candle_core::pickle::{Object, Stack, TensorInfo};
use candle_core::{Device, Tensor};
use std::collections::HashMap;
use std::io::{BufRead, BufReader, Read};
use std::path::{Path, PathBuf};

/// Bytes that open every legacy checkpoint: pickle protocol 2, `LONG1` of ten bytes
/// holding torch's magic number 0x1950a86a20f9469cfc6c, `STOP`.
const LEGACY_MAGIC: [u8; 15] = [
    0x80, 0x02, 0x8a, 0x0a, 0x6c, 0xfc, 0x9c, 0x46, 0xf9, 0x20, 0x6a, 0xa8, 0x50, 0x19, 0x2e,
];
const LEGACY_PROTOCOL_VERSION: i64 = 1001;
const ZIP_MAGIC: [u8; 4] = *b"PK\x03\x04";

/// Reads every tensor of a checkpoint's state dict, by name, on the CPU.
///
/// Accepts both the zip and the legacy format; a checkpoint that wraps its state dict in a
/// dict under `state_dict` is unwrapped.
pub fn read_checkpoint(path: &Path) -> Result<Vec<(String, Tensor)>> {
    let file = std::fs::File::open(path).map_err(|source| DetectorError::Io {
        path: path.to_owned(),
        source,
    })?;
    let mut reader = BufReader::new(file);
    let head = reader.fill_buf().map_err(|source| DetectorError::Io {
        path: path.to_owned(),
        source,
    })?;
    if head.starts_with(&ZIP_MAGIC) {
        return candle_core::pickle::read_all(path).map_err(|e| bad(path, e.to_string()));
    }
    LegacyReader {
        path: path.to_owned(),
        reader,
    }
    .read_all()
}

fn bad(path: &Path, reason: impl Into<String>) -> DetectorError {
    DetectorError::Checkpoint {
        path: path.to_owned(),
        reason: reason.into(),
    }
}

struct LegacyReader {
    path: PathBuf,
    reader: BufReader<std::fs::File>,
}

impl LegacyReader {
    fn read_all(mut self) -> Result<Vec<(String, Tensor)>> {
        let mut magic = [0u8; LEGACY_MAGIC.len()];
        self.read_exact(&mut magic, "magic number")?;
        if magic != LEGACY_MAGIC {
            return Err(self.bad("neither a zip archive nor a legacy torch.save file"));
        }
        let protocol = self
            .pickle("protocol version")?
            .int_or_long()
            .map_err(|_| self.bad("protocol version is not an integer"))?;
        if protocol != LEGACY_PROTOCOL_VERSION {
            return Err(self.bad(format!(
                "legacy protocol version {protocol}, this reader knows {LEGACY_PROTOCOL_VERSION}"
            )));
        }
        self.check_system_info()?;
        let state = unwrap_state_dict(self.pickle("state dict")?);
        let Object::Dict(entries) = state else {
            return Err(self.bad("the saved object is not a state dict"));
        };
        let mut infos = Vec::with_capacity(entries.len());
        for (name, value) in entries {
            // Entries that are not tensors (hyper-parameters, nested metadata) are skipped.
            let info = value
                .into_tensor_info(name, Path::new(""))
                .map_err(|e| self.bad(format!("tensor table: {e}")))?;
            infos.extend(info);
        }
        let keys = self.storage_keys()?;
        let storages = self.storages(&keys, &infos)?;
        infos
            .iter()
            .map(|info| Ok((info.name.clone(), self.tensor(info, &storages)?)))
            .collect()
    }

    fn check_system_info(&mut self) -> Result<()> {
        let Object::Dict(entries) = self.pickle("system info")? else {
            return Err(self.bad("system info is not a dict"));
        };
        let little_endian = entries
            .into_iter()
            .find(|(key, _)| *key == Object::Unicode("little_endian".into()))
            .map(|(_, value)| value);
        match little_endian {
            Some(Object::Bool(true)) => Ok(()),
            _ => Err(self.bad("only little-endian checkpoints are supported")),
        }
    }

    fn storage_keys(&mut self) -> Result<Vec<String>> {
        let Object::List(keys) = self.pickle("storage keys")? else {
            return Err(self.bad("storage key list is not a list"));
        };
        keys.into_iter()
            .map(|key| {
                key.unicode()
                    .map_err(|_| self.bad("storage key is not a string"))
            })
            .collect()
    }

    /// Raw bytes of each storage, by key, in file order. The file counts elements, not
    /// bytes, so each storage's element size comes from the tensors that view it.
    fn storages(
        &mut self,
        keys: &[String],
        infos: &[TensorInfo],
    ) -> Result<HashMap<String, Vec<u8>>> {
        let mut dtypes = HashMap::with_capacity(infos.len());
        for info in infos {
            dtypes.insert(storage_key(info), info.dtype);
        }
        let mut storages = HashMap::with_capacity(keys.len());
        for key in keys {
            let Some(dtype) = dtypes.get(key.as_str()) else {
                return Err(self.bad(format!("storage {key} is viewed by no tensor")));
            };
            let mut count = [0u8; 8];
            self.read_exact(&mut count, &format!("storage {key} header"))?;
            let bytes = usize::try_from(u64::from_le_bytes(count))
                .ok()
                .and_then(|count| count.checked_mul(dtype.size_in_bytes()))
                .ok_or_else(|| self.bad(format!("storage {key}: impossible length")))?;
            let mut data = Vec::new();
            (&mut self.reader)
                .take(bytes as u64)
                .read_to_end(&mut data)
                .map_err(|e| self.bad(format!("storage {key}: {e}")))?;
            if data.len() != bytes {
                return Err(self.bad(format!(
                    "storage {key}: file ends after {} of {bytes} bytes",
                    data.len()
                )));
            }
            storages.insert(key.clone(), data);
        }
        Ok(storages)
    }

    /// Cuts one tensor out of its storage: element (i0, i1, …) lies at
    /// offset + Σ ik·stride_k, whatever order the strides put the dimensions in.
    fn tensor(&self, info: &TensorInfo, storages: &HashMap<String, Vec<u8>>) -> Result<Tensor> {
        let key = storage_key(info);
        let storage = storages
            .get(key)
            .ok_or_else(|| self.bad(format!("tensor {}: storage {key} missing", info.name)))?;
        let layout = &info.layout;
        let element = info.dtype.size_in_bytes();
        let dims = layout.dims();
        let strides = layout.stride();
        // candle's pickle reader records the storage offset in bytes.
        let offset = layout.start_offset() / element;
        let last = dims
            .iter()
            .zip(strides)
            .try_fold(offset, |sum, (&dim, &stride)| {
                sum.checked_add(dim.saturating_sub(1).checked_mul(stride)?)
            });
        let end = last.and_then(|last| last.checked_add(1)?.checked_mul(element));
        let in_bounds = dims.contains(&0) || end.is_some_and(|end| end <= storage.len());
        if !in_bounds {
            return Err(self.bad(format!(
                "tensor {} (shape {dims:?}, strides {strides:?}, offset {offset}) reaches past its storage of {} elements",
                info.name,
                storage.len() / element
            )));
        }
        // A zero stride repeats elements, so the storage does not bound the tensor's size.
        let size = dims
            .iter()
            .try_fold(element, |size, &dim| size.checked_mul(dim));
        let mut bytes = Vec::new();
        if size.is_none_or(|size| bytes.try_reserve_exact(size).is_err()) {
            return Err(self.bad(format!(
                "tensor {} (shape {dims:?}) is too large to hold",
                info.name
            )));
        }
        let count: usize = dims.iter().product();
        let mut index = vec![0usize; dims.len()];
        for _ in 0..count {
            let at = offset + index.iter().zip(strides).map(|(i, s)| i * s).sum::<usize>();
            bytes.extend_from_slice(&storage[at * element..(at + 1) * element]);
            // Row-major odometer: the last dimension turns fastest.
            for axis in (0..dims.len()).rev() {
                index[axis] += 1;
                if index[axis] < dims[axis] {
                    break;
                }
                index[axis] = 0;
            }
        }
        Ok(Tensor::from_raw_buffer(
            &bytes,
            info.dtype,
            dims,
            &Device::Cpu,
        )?)
    }

    fn pickle(&mut self, what: &str) -> Result<Object> {
        let mut stack = Stack::empty();
        stack
            .read_loop(&mut self.reader)
            .and_then(|()| stack.finalize())
            .map_err(|e| self.bad(format!("{what}: {e}")))
    }

    fn read_exact(&mut self, buf: &mut [u8], what: &str) -> Result<()> {
        self.reader
            .read_exact(buf)
            .map_err(|e| self.bad(format!("{what}: {e}")))
    }

    fn bad(&self, reason: impl Into<String>) -> DetectorError {
        bad(&self.path, reason)
    }
}

/// The storage a tensor views. candle names it `dir/key` for zip archives; the legacy
/// format has no directory, so the tensor table was read with an empty one.
fn storage_key(info: &TensorInfo) -> &str {
    info.path.strip_prefix('/').unwrap_or(&info.path)
}

/// Training checkpoints often save `{"state_dict": …, "epoch": …}`; weights-only files
/// save the state dict itself.
fn unwrap_state_dict(saved: Object) -> Object {
    match saved {
        Object::Dict(entries) => {
            let is_state = |key: &Object| *key == Object::Unicode("state_dict".into());
            match entries.iter().position(|(key, _)| is_state(key)) {
                Some(at) => entries
                    .into_iter()
                    .nth(at)
                    .map(|(_, value)| value)
                    .unwrap_or(Object::None),
                None => Object::Dict(entries),
            }
        }
        other => other,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Writes pickle opcodes for a hand-made legacy checkpoint.
    #[derive(Default)]
    struct Pickle(Vec<u8>);

    impl Pickle {
        fn op(&mut self, bytes: &[u8]) -> &mut Self {
            self.0.extend_from_slice(bytes);
            self
        }
        fn text(&mut self, text: &str) -> &mut Self {
            self.op(b"X")
                .op(&(text.len() as u32).to_le_bytes())
                .op(text.as_bytes())
        }
        fn int(&mut self, value: u8) -> &mut Self {
            self.op(&[b'K', value])
        }
        fn global(&mut self, module: &str, name: &str) -> &mut Self {
            self.op(format!("c{module}\n{name}\n").as_bytes())
        }
        fn tuple(&mut self, values: &[u8]) -> &mut Self {
            self.op(b"(");
            values.iter().for_each(|&v| {
                self.int(v);
            });
            self.op(b"t")
        }
        /// A `_rebuild_tensor_v2` call on float storage `key` of `numel` elements.
        fn tensor(
            &mut self,
            key: &str,
            numel: u8,
            offset: u8,
            size: &[u8],
            stride: &[u8],
        ) -> &mut Self {
            self.global("torch._utils", "_rebuild_tensor_v2").op(b"((");
            self.text("storage")
                .global("torch", "FloatStorage")
                .text(key)
                .text("cpu");
            self.int(numel)
                .op(b"NtQ")
                .int(offset)
                .tuple(size)
                .tuple(stride)
                .op(b"\x89");
            self.global("collections", "OrderedDict").op(b")RtR")
        }
    }

    /// A view of the checkpoint's one storage: name, offset, size and strides.
    type View<'a> = (&'a str, u8, &'a [u8], &'a [u8]);

    /// Two tensors viewing one storage of 0, 1, …, 11: a 2×3 matrix stored column-major
    /// (strides (1, 2)), and a 2×2 block at offset 6 with its rows 3 apart.
    fn legacy_checkpoint() -> Vec<u8> {
        checkpoint_viewing(&[
            ("transposed", 0, &[2, 3], &[1, 2]),
            ("block", 6, &[2, 2], &[3, 1]),
        ])
    }

    /// A legacy checkpoint of the `views` of one storage holding 0, 1, …, 11.
    fn checkpoint_viewing(views: &[View]) -> Vec<u8> {
        let mut file = LEGACY_MAGIC.to_vec();
        file.extend_from_slice(&[0x80, 0x02, b'M', 0xe9, 0x03, b'.']);
        let mut info = Pickle::default();
        info.op(&[0x80, 0x02])
            .op(b"}(")
            .text("little_endian")
            .op(b"\x88u.");
        file.extend(info.0);
        let mut state = Pickle::default();
        state
            .op(&[0x80, 0x02])
            .global("collections", "OrderedDict")
            .op(b")R(");
        for &(name, offset, size, stride) in views {
            state.text(name).tensor("7", 12, offset, size, stride);
        }
        state.op(b"u.");
        file.extend(state.0);
        let mut keys = Pickle::default();
        keys.op(&[0x80, 0x02]).op(b"](").text("7").op(b"e.");
        file.extend(keys.0);
        file.extend_from_slice(&12u64.to_le_bytes());
        for value in 0..12 {
            file.extend_from_slice(&(value as f32).to_le_bytes());
        }
        file
    }

    fn read(bytes: &[u8]) -> Result<HashMap<String, Tensor>> {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("legacy.pth");
        std::fs::write(&path, bytes).unwrap();
        Ok(read_checkpoint(&path)?.into_iter().collect())
    }

    #[test]
    fn legacy_tensors_honour_strides_and_offsets() {
        let tensors = read(&legacy_checkpoint()).unwrap();
        let transposed = tensors["transposed"].to_vec2::<f32>().unwrap();
        assert_eq!(transposed, [[0.0, 2.0, 4.0], [1.0, 3.0, 5.0]]);
        let block = tensors["block"].to_vec2::<f32>().unwrap();
        assert_eq!(block, [[6.0, 7.0], [9.0, 10.0]]);
    }

    #[test]
    fn a_cut_off_storage_is_reported() {
        let mut bytes = legacy_checkpoint();
        bytes.truncate(bytes.len() - 5);
        let error = read(&bytes).unwrap_err().to_string();
        assert!(
            error.contains("storage 7: file ends after 43 of 48 bytes"),
            "{error}"
        );
    }

    #[test]
    fn a_view_past_its_storage_is_refused() {
        let bytes = legacy_checkpoint();
        // Shrink the storage to 8 elements: the block at offset 6 now reaches past it.
        let header = bytes.len() - 12 * 4 - 8;
        let mut short = bytes[..header].to_vec();
        short.extend_from_slice(&8u64.to_le_bytes());
        short.extend_from_slice(&bytes[header + 8..header + 8 + 8 * 4]);
        let error = read(&short).unwrap_err().to_string();
        assert!(
            error.contains("tensor block")
                && error.contains("reaches past its storage of 8 elements"),
            "{error}"
        );
    }

    #[test]
    fn a_zero_stride_repeats_elements() {
        let tensors = read(&checkpoint_viewing(&[("rows", 1, &[2, 3], &[0, 1])])).unwrap();
        let rows = tensors["rows"].to_vec2::<f32>().unwrap();
        assert_eq!(rows, [[1.0, 2.0, 3.0], [1.0, 2.0, 3.0]]);
    }

    #[test]
    fn a_view_too_large_to_hold_is_refused() {
        // 255⁸ four-byte elements, all the same one: inside its storage, but no memory holds it.
        let bytes = checkpoint_viewing(&[("huge", 0, &[255; 8], &[0; 8])]);
        let error = read(&bytes).unwrap_err().to_string();
        assert!(
            error.contains("tensor huge") && error.contains("too large to hold"),
            "{error}"
        );
    }
}

//! Weights and training state in safetensors files, in Keras's layouts.
//! A file is written to a temporary sibling and renamed into place, so a
//! crash leaves either the old file or the new one, never half of one; a
//! file is read whole and checked before any value is used.

use crate::error::{Error, Result};
use crate::info::TensorInfo;
use safetensors::tensor::{Dtype, SafeTensors, TensorView};
use std::collections::HashMap;
use std::path::{Path, PathBuf};

/// A tensor to write: name, shape and f32 values.
pub type Named<'a> = (String, Vec<usize>, &'a [f32]);

/// Writes `tensors` (f32, little-endian) and `metadata` to `path` atomically.
pub fn write(path: &Path, tensors: &[Named], metadata: HashMap<String, String>) -> Result<()> {
    let bytes: Vec<Vec<u8>> =
        tensors.iter().map(|(_, _, v)| v.iter().flat_map(|x| x.to_le_bytes()).collect()).collect();
    let mut views = Vec::with_capacity(tensors.len());
    for ((name, shape, _), data) in tensors.iter().zip(&bytes) {
        let view = TensorView::new(Dtype::F32, shape.clone(), data)
            .map_err(|e| Error::format(path, format!("tensor `{name}`: {e}")))?;
        views.push((name.clone(), view));
    }
    let data = safetensors::tensor::serialize(views, Some(metadata)).map_err(|e| Error::format(path, e.to_string()))?;
    write_atomically(path, &data)
}

/// Writes `data` to a temporary file beside `path`, syncs it, and renames
/// it over `path`.
pub fn write_atomically(path: &Path, data: &[u8]) -> Result<()> {
    use std::io::Write;
    let tmp = temporary_sibling(path);
    let result = (|| {
        let mut file = std::fs::File::create(&tmp)?;
        file.write_all(data)?;
        file.sync_all()?;
        std::fs::rename(&tmp, path)
    })();
    result.map_err(|e| {
        let _ = std::fs::remove_file(&tmp);
        Error::io(path, e)
    })
}

/// `dir/.name.tmp`: beside the target, so the rename stays on one file system.
pub fn temporary_sibling(path: &Path) -> PathBuf {
    let name = path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
    path.with_file_name(format!(".{name}.tmp"))
}

/// A safetensors file read whole and checked.
pub struct TensorFile {
    path: PathBuf,
    bytes: Vec<u8>,
}

impl TensorFile {
    pub fn open(path: impl AsRef<Path>) -> Result<Self> {
        let path = path.as_ref().to_path_buf();
        let bytes = std::fs::read(&path).map_err(|e| Error::io(&path, e))?;
        SafeTensors::deserialize(&bytes)
            .map_err(|e| Error::format(&path, format!("not a valid safetensors file ({e}); is it truncated?")))?;
        Ok(TensorFile { path, bytes })
    }

    fn parsed(&self) -> SafeTensors<'_> {
        SafeTensors::deserialize(&self.bytes).expect("checked when opened")
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The file's `__metadata__`.
    pub fn metadata(&self) -> HashMap<String, String> {
        SafeTensors::read_metadata(&self.bytes).ok().and_then(|(_, m)| m.metadata().clone()).unwrap_or_default()
    }

    pub fn names(&self) -> Vec<String> {
        self.parsed().names().into_iter().map(str::to_string).collect()
    }

    fn view(&self, name: &str, dtype: Dtype, expected: Option<&[usize]>) -> Result<(Vec<usize>, Vec<u8>)> {
        let parsed = self.parsed();
        let view = parsed.tensor(name).map_err(|_| {
            Error::format(
                &self.path,
                match expected {
                    Some(shape) => format!("tensor `{name}` (shape {shape:?}) is missing"),
                    None => format!("tensor `{name}` is missing"),
                },
            )
        })?;
        if view.dtype() != dtype {
            return Err(Error::format(
                &self.path,
                format!("tensor `{name}` is {:?}, expected {dtype:?}", view.dtype()),
            ));
        }
        if let Some(shape) = expected {
            if view.shape() != shape {
                return Err(Error::TensorShape {
                    path: self.path.clone(),
                    tensor: name.to_string(),
                    expected: shape.to_vec(),
                    found: view.shape().to_vec(),
                });
            }
        }
        Ok((view.shape().to_vec(), view.data().to_vec()))
    }

    /// An f32 tensor, checked against `expected` if given.
    pub fn f32(&self, name: &str, expected: Option<&[usize]>) -> Result<(Vec<usize>, Vec<f32>)> {
        let (shape, data) = self.view(name, Dtype::F32, expected)?;
        let values = data.chunks_exact(4).map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]])).collect();
        Ok((shape, values))
    }

    pub fn u8(&self, name: &str) -> Result<Vec<u8>> {
        Ok(self.view(name, Dtype::U8, None)?.1)
    }

    /// A network's parameters: every tensor of `tensors`, in place.
    pub fn params(&self, tensors: &[TensorInfo], total: usize) -> Result<Vec<f32>> {
        let mut params = vec![0.0; total];
        for t in tensors {
            let (_, values) = self.f32(t.name, Some(t.shape))?;
            params[t.range()].copy_from_slice(&values);
        }
        Ok(params)
    }
}

/// A network's parameters as named tensors, ready for [`write()`].
pub fn named_params<'a>(tensors: &[TensorInfo], params: &'a [f32]) -> Vec<Named<'a>> {
    tensors.iter().map(|t| (t.name.to_string(), t.shape.to_vec(), &params[t.range()])).collect()
}

//! Tensors in host memory, and the safetensors files that hold them (checkpoints and exports).

use anyhow::{bail, ensure, Context, Result};
use safetensors::{tensor::TensorView, Dtype, SafeTensors};
use std::collections::{BTreeMap, HashMap};
use std::path::Path;
use tch::{Device, Kind, Tensor};

/// A named f32 tensor in host memory.
#[derive(Debug, Clone, PartialEq)]
pub struct HostTensor {
    /// Name (PyTorch's, e.g. `rnn.weight_ih_l0`).
    pub name: String,
    /// Shape.
    pub shape: Vec<usize>,
    /// Row-major values.
    pub data: Vec<f32>,
}

impl HostTensor {
    /// Copies a libtorch tensor to the host.
    pub fn from_tch(name: &str, t: &Tensor) -> Result<HostTensor> {
        let shape = t
            .size()
            .iter()
            .map(|&d| usize::try_from(d))
            .collect::<Result<Vec<_>, _>>()?;
        let flat = t
            .detach()
            .to_device(Device::Cpu)
            .to_kind(Kind::Float)
            .contiguous()
            .view([-1]);
        let data = Vec::<f32>::try_from(&flat)?;
        Ok(HostTensor {
            name: name.to_owned(),
            shape,
            data,
        })
    }

    /// Copies the values into `dst`, which must have the same shape.
    pub fn copy_into(&self, dst: &mut Tensor) -> Result<()> {
        let want: Vec<i64> = self.shape.iter().map(|&d| d as i64).collect();
        ensure!(
            dst.size() == want,
            "tensor {} has shape {:?}, the model expects {:?}",
            self.name,
            self.shape,
            dst.size()
        );
        let src = Tensor::from_slice(&self.data)
            .view(want.as_slice())
            .to_device(dst.device());
        tch::no_grad(|| dst.copy_(&src));
        Ok(())
    }

    /// Little-endian bytes.
    pub fn le_bytes(&self) -> Vec<u8> {
        self.data.iter().flat_map(|x| x.to_le_bytes()).collect()
    }
}

/// Serializes `tensors` (in this order) and `metadata` as safetensors bytes.
pub fn to_safetensors(
    tensors: &[HostTensor],
    metadata: HashMap<String, String>,
) -> Result<Vec<u8>> {
    let bytes: Vec<Vec<u8>> = tensors.iter().map(HostTensor::le_bytes).collect();
    let views = tensors
        .iter()
        .zip(&bytes)
        .map(|(t, b)| {
            Ok((
                t.name.clone(),
                TensorView::new(Dtype::F32, t.shape.clone(), b)?,
            ))
        })
        .collect::<Result<Vec<_>>>()?;
    sorted_header(&safetensors::serialize(views, &Some(metadata))?)
}

/// safetensors writes `__metadata__` in `HashMap` order, which differs from process to
/// process; rewriting the header with sorted keys makes the same tensors give the same bytes.
fn sorted_header(file: &[u8]) -> Result<Vec<u8>> {
    let len = file
        .get(..8)
        .and_then(|b| <[u8; 8]>::try_from(b).ok())
        .map(u64::from_le_bytes)
        .and_then(|n| usize::try_from(n).ok())
        .context("safetensors output without a header")?;
    let (header, data) = file
        .get(8..)
        .and_then(|rest| rest.split_at_checked(len))
        .context("safetensors output with a truncated header")?;
    let mut entries: BTreeMap<String, serde_json::Value> = serde_json::from_slice(header)?;
    if let Some(meta) = entries.get_mut("__metadata__") {
        let sorted: BTreeMap<String, String> = serde_json::from_value(meta.take())?;
        *meta = serde_json::to_value(sorted)?;
    }
    let mut json = serde_json::to_vec(&entries)?;
    // The format pads the header with spaces to a multiple of 8 bytes.
    json.resize(json.len().next_multiple_of(8), b' ');
    let mut out = Vec::with_capacity(8 + json.len() + data.len());
    out.extend_from_slice(&(json.len() as u64).to_le_bytes());
    out.extend_from_slice(&json);
    out.extend_from_slice(data);
    Ok(out)
}

/// A safetensors file read back: f32 tensors and the metadata.
pub struct SafetensorsFile {
    /// The tensors, sorted by name.
    pub tensors: Vec<HostTensor>,
    /// `__metadata__`.
    pub metadata: HashMap<String, String>,
}

/// Reads a safetensors file of f32 tensors.
pub fn read_safetensors(path: &Path) -> Result<SafetensorsFile> {
    let bytes = std::fs::read(path).with_context(|| format!("cannot read {}", path.display()))?;
    let parse = || -> Result<SafetensorsFile> {
        let (_, meta) = SafeTensors::read_metadata(&bytes)?;
        let metadata = meta.metadata().clone().unwrap_or_default();
        let st = SafeTensors::deserialize(&bytes)?;
        let mut tensors = Vec::new();
        for (name, view) in st.tensors() {
            if view.dtype() != Dtype::F32 {
                bail!(
                    "tensor {name} is {:?}; mynah reads f32 tensors",
                    view.dtype()
                );
            }
            let data = view
                .data()
                .chunks_exact(4)
                .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
                .collect();
            tensors.push(HostTensor {
                name,
                shape: view.shape().to_vec(),
                data,
            });
        }
        tensors.sort_by(|a, b| a.name.cmp(&b.name));
        Ok(SafetensorsFile { tensors, metadata })
    };
    parse().with_context(|| format!("{} is not a valid safetensors file", path.display()))
}

/// Writes `bytes` to `path` with mynah's one atomic writer ([`mynah_format::write_atomic`]:
/// temporary file, fsync, rename, directory fsync), so a crash leaves the old or the new file.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> Result<()> {
    // The writer's error already names the path.
    mynah_format::write_atomic(path, bytes).map_err(|e| anyhow::anyhow!("cannot write {e}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn safetensors_round_trip() {
        let dir = tempfile::tempdir().unwrap();
        let t = vec![
            HostTensor {
                name: "b".into(),
                shape: vec![2, 2],
                data: vec![1.0, -2.5, 3.0, f32::MIN_POSITIVE],
            },
            HostTensor {
                name: "a".into(),
                shape: vec![1],
                data: vec![7.0],
            },
        ];
        let meta = HashMap::from([("k".to_owned(), "v".to_owned())]);
        let path = dir.path().join("x.safetensors");
        write_atomic(&path, &to_safetensors(&t, meta.clone()).unwrap()).unwrap();
        let back = read_safetensors(&path).unwrap();
        assert_eq!(back.metadata, meta);
        assert_eq!(back.tensors, vec![t[1].clone(), t[0].clone()]);
        let tt = Tensor::from_slice(&t[0].data).view([2, 2]);
        assert_eq!(HostTensor::from_tch("b", &tt).unwrap(), t[0]);
    }

    #[test]
    fn safetensors_bytes_do_not_depend_on_hash_order() {
        let t = [HostTensor {
            name: "w".into(),
            shape: vec![3],
            data: vec![1.0, 2.0, 3.0],
        }];
        let meta = |keys: &[&str]| {
            let mut m = HashMap::new();
            for k in keys {
                m.insert((*k).to_owned(), format!("value of {k}"));
            }
            m
        };
        let keys = [
            "vocab", "mode", "embed", "hidden", "layers", "specials", "format",
        ];
        let a = to_safetensors(&t, meta(&keys)).unwrap();
        let mut rev = keys;
        rev.reverse();
        for _ in 0..8 {
            // Every HashMap has its own random order.
            assert_eq!(to_safetensors(&t, meta(&rev)).unwrap(), a);
        }
        let header = std::str::from_utf8(&a[8..a.len() - 12]).unwrap();
        assert!(header.contains(r#""__metadata__":{"embed":"value of embed","format""#));
        let (_, m) = SafeTensors::read_metadata(&a).unwrap();
        assert_eq!(m.metadata().clone().unwrap(), meta(&keys));
        assert_eq!(a.len() % 8, 4);
    }
}

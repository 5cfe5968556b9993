//! Reading the weights: a safetensors file, a torch.save zip archive of a plain dict of
//! tensors, or a TorchScript archive.

use crate::params::HostTensor;
use anyhow::{bail, ensure, Context, Result};
use safetensors::{Dtype, SafeTensors};
use std::collections::HashMap;
use std::io::Read;
use std::path::Path;

/// Tensors (as f32) and safetensors metadata (empty for torch.save files).
pub(super) struct WeightsFile {
    pub(super) tensors: Vec<HostTensor>,
    pub(super) metadata: HashMap<String, String>,
    /// A TorchScript file whose code runs an RNN with ReLU (`torch.rnn_relu`).
    pub(super) relu_rnn: bool,
}
/// Reads a safetensors file or a torch.save zip archive, recognized by its first bytes.
pub(super) fn read_weights(path: &Path) -> Result<WeightsFile> {
    let bytes = std::fs::read(path).with_context(|| format!("cannot read {}", path.display()))?;
    let shown = path.display();
    if bytes.starts_with(b"PK\x03\x04") {
        return read_torch_zip(path, &bytes);
    }
    // Legacy torch.save files are a bare pickle stream: protocol 2 starts with 0x80 0x02.
    if bytes.first() == Some(&0x80) {
        bail!(
            "{shown} is in torch.save's legacy format (_use_new_zipfile_serialization=False), \
             which libtorch cannot read; {SAVE_HINT}"
        );
    }
    let looks_like_safetensors = bytes.len() > 8 && bytes[8] == b'{';
    if !looks_like_safetensors {
        bail!(
            "{shown} is neither a safetensors file nor a torch.save zip archive (see \
             `mynah-train import --help` for what is accepted)"
        );
    }
    let parse = || -> Result<WeightsFile> {
        let (_, meta) = SafeTensors::read_metadata(&bytes)?;
        let metadata = meta.metadata().clone().unwrap_or_default();
        let st = SafeTensors::deserialize(&bytes)?;
        let mut tensors = Vec::new();
        for (name, view) in st.tensors() {
            let data =
                floats(view.dtype(), view.data()).with_context(|| format!("tensor {name}"))?;
            tensors.push(HostTensor {
                name,
                shape: view.shape().to_vec(),
                data,
            });
        }
        Ok(WeightsFile {
            tensors,
            metadata,
            relu_rnn: false,
        })
    };
    parse().with_context(|| format!("{shown} is not a valid safetensors file"))
}

/// Little-endian floating-point tensor data as f32.
fn floats(dtype: Dtype, data: &[u8]) -> Result<Vec<f32>> {
    Ok(match dtype {
        Dtype::F32 => data
            .chunks_exact(4)
            .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
            .collect(),
        Dtype::F16 => data
            .chunks_exact(2)
            .map(|c| half::f16::from_le_bytes([c[0], c[1]]).to_f32())
            .collect(),
        Dtype::BF16 => data
            .chunks_exact(2)
            .map(|c| half::bf16::from_le_bytes([c[0], c[1]]).to_f32())
            .collect(),
        #[allow(clippy::cast_possible_truncation)]
        Dtype::F64 => data
            .chunks_exact(8)
            .map(|c| f64::from_le_bytes([c[0], c[1], c[2], c[3], c[4], c[5], c[6], c[7]]) as f32)
            .collect(),
        other => bail!("is {other:?}; import reads floating-point tensors (f32, f16, bf16, f64)"),
    })
}

/// How to save what import reads, for error messages.
const SAVE_HINT: &str = "save the weights as a plain dict, torch.save(dict(model.state_dict()), \
                         PATH), or as safetensors, safetensors.torch.save_file(model.state_dict(), PATH)";

/// A torch.save zip archive of a plain dict of tensors, or a TorchScript archive, read by
/// libtorch. `bytes` is the file (torch.save stores its pickles uncompressed, so markers in
/// them can be found for the error messages).
fn read_torch_zip(path: &Path, bytes: &[u8]) -> Result<WeightsFile> {
    let shown = path.display();
    let has = |marker: &[u8]| bytes.windows(marker.len()).any(|w| w == marker);
    let torchscript = has(b"/constants.pkl");
    let loaded = if torchscript {
        tch::Tensor::load_multi(path)
    } else {
        tch::Tensor::loadz_multi(path)
    };
    let named = loaded.map_err(|e| {
        let why = first_line(&e.to_string()).to_owned();
        if has(b"_parameters") {
            anyhow::anyhow!(
                "{shown} holds a pickled model object (torch.save(model, PATH)), which libtorch \
                 cannot read; {SAVE_HINT}"
            )
        } else if has(b"\x80\x02ccollections\nOrderedDict\n") {
            // The pickle starts with the OrderedDict class: the whole file is a state_dict.
            anyhow::anyhow!(
                "{shown} holds an OrderedDict (what torch.save(model.state_dict(), PATH) writes), \
                 which libtorch cannot read; {SAVE_HINT}"
            )
        } else {
            anyhow::anyhow!(
                "{shown} is a zip archive that libtorch cannot read as a flat dict of tensors \
                 (a training checkpoint with other entries? libtorch says: {why}); {SAVE_HINT}"
            )
        }
    })?;
    let mut tensors = Vec::with_capacity(named.len());
    for (name, t) in named {
        ensure!(
            t.is_floating_point(),
            "{shown}: tensor {name} is {:?}; import reads floating-point tensors",
            t.kind()
        );
        tensors.push(HostTensor::from_tch(&name, &t).with_context(|| format!("{shown}: {name}"))?);
    }
    ensure!(!tensors.is_empty(), "{shown} holds no tensors");
    Ok(WeightsFile {
        tensors,
        metadata: HashMap::new(),
        relu_rnn: torchscript && runs_relu_rnn(bytes),
    })
}

/// Whether the code of a TorchScript archive calls `torch.rnn_relu` (an nn.RNN built with
/// nonlinearity='relu', traced or scripted). The code files are deflated, unlike the tensors;
/// the `.debug_pkl` files are left out, as they hold the source of nn.RNN with both branches.
fn runs_relu_rnn(bytes: &[u8]) -> bool {
    let Ok(mut archive) = zip::ZipArchive::new(std::io::Cursor::new(bytes)) else {
        return false;
    };
    for i in 0..archive.len() {
        let Ok(mut entry) = archive.by_index(i) else {
            continue;
        };
        if !(entry.name().contains("/code/") && entry.name().ends_with(".py")) {
            continue;
        }
        let mut code = String::new();
        if entry.read_to_string(&mut code).is_ok() && code.contains("rnn_relu(") {
            return true;
        }
    }
    false
}

/// libtorch errors carry a C++ backtrace after the first line.
fn first_line(s: &str) -> &str {
    s.lines().next().unwrap_or(s).trim()
}

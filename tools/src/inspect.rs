//! The report printed by `mynah inspect`.

use std::io::{self, Write};

use mynah_format::{Arch, Model};

/// Writes a human-readable description of `model` (header, vocabulary, tensors,
/// size and checksum) to `out`. `name` is how the file is called in the report.
pub fn write_report(out: &mut dyn Write, name: &str, model: &Model<'_>) -> io::Result<()> {
    let h = model.hyper();
    let vocab = model.vocab();
    writeln!(out, "file         {name}")?;
    writeln!(out, "version      {}", model.version())?;
    let mode = if h.records {
        "RECORDS (sampling stops at <EOS>)"
    } else {
        "text"
    };
    let factored = if h.factored { ", FACTORED" } else { "" };
    writeln!(out, "flags        0x{:08x} {mode}{factored}", h.flags())?;
    let weights = match h.weights.weight_dtype() {
        Some(d) => format!("{} ({d} weight matrices)", h.weights),
        None => format!("{} (f32/f16 tensors)", h.weights),
    };
    writeln!(out, "weights      {weights}")?;
    writeln!(out, "input        {}", crate::quant_info::input_layer(&h))?;
    let arch = match h.arch {
        Arch::Recurrent(c) => format!("{c} (embedding -> {c} -> linear)"),
        ngram => format!("{ngram}: embeddings of the last tokens -> hidden -> linear"),
    };
    writeln!(out, "arch         {arch}")?;
    writeln!(out, "vocab_size   {}", h.vocab_size)?;
    writeln!(out, "embed_dim    {}", h.embed_dim)?;
    writeln!(out, "hidden_dim   {}", h.hidden_dim)?;
    writeln!(out, "num_layers   {}", h.num_layers)?;
    writeln!(
        out,
        "vocabulary   {} ids: specials {}, {} characters from id {}:",
        vocab.len(),
        vocab.specials(),
        vocab.char_count(),
        vocab.first_char_id()
    )?;
    writeln!(out, "  \"{}\"", vocab.as_str().escape_debug())?;
    writeln!(out, "tensors      {}", model.tensor_count())?;
    let width = model
        .tensors()
        .map(|t| t.name().len())
        .max()
        .unwrap_or(0)
        .max(4);
    writeln!(
        out,
        "  {:width$}  {:5}  {:20}  {:>10}  {:>9}",
        "name", "dtype", "shape", "bytes", "frac_bits"
    )?;
    for t in model.tensors() {
        let shape = format!("{:?}", t.shape());
        writeln!(
            out,
            "  {:width$}  {:5}  {:20}  {:>10}  {:>9}",
            t.name(),
            t.dtype().name(),
            shape,
            t.bytes().len(),
            t.frac_bits()
        )?;
    }
    writeln!(out, "file_size    {} bytes", model.file_size())?;
    writeln!(out, "checksum OK (crc32 0x{:08x})", model.checksum())?;
    crate::quant_info::write_quantization(out, model)?;
    Ok(())
}

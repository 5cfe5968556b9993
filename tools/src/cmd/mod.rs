//! One module per subcommand: each has `Args` (clap) and `run`.

pub mod bench;
pub mod eval;
pub mod inspect;
pub mod quantize;
pub mod sample;

/// The corpus mode of `--mode` (with `--csv-column`, `--csv-header`); without it, the
/// model's own: lines for records models, else text.
pub(crate) fn corpus_mode(
    mode: Option<mynah_text::ModeKind>,
    csv_column: usize,
    csv_header: bool,
    records: bool,
) -> mynah_text::Mode {
    use mynah_text::ModeKind;
    let kind = mode.unwrap_or(if records {
        ModeKind::Lines
    } else {
        ModeKind::Text
    });
    kind.with(csv_column, csv_header)
}

/// The FLOAT model of a file, or the INT8 or INT4 one loaded into the runtime, as a sampler.
pub(crate) fn sampler<'m, 'a>(
    model: &mynah_format::Model<'a>,
    int: &'m mut Option<Box<mynah_quant::engine::HostModel<'a>>>,
    name: &str,
) -> anyhow::Result<mynah_quant::sampling::Sampler<'m, 'a>> {
    use anyhow::Context;
    use mynah_quant::{engine, reference::FloatModel, sampling::Sampler};
    if engine::is_quantized(model) {
        let loaded = int.insert(engine::load_int(model).with_context(|| name.to_owned())?);
        Ok(Sampler::int(loaded))
    } else {
        Ok(Sampler::float(
            FloatModel::from_model(model).with_context(|| name.to_owned())?,
        ))
    }
}

/// What runs `model`: `int8 runtime` / `int4 runtime` (`, factored`) for quantized files,
/// `f32 reference` for float ones.
pub(crate) fn engine_name(model: &mynah_format::Model<'_>) -> String {
    let h = model.hyper();
    match h.weights.weight_dtype() {
        Some(d) if h.factored => {
            format!("int{} runtime, factored", d.name().trim_start_matches('i'))
        }
        Some(d) => format!("int{} runtime", d.name().trim_start_matches('i')),
        None => "f32 reference".into(),
    }
}

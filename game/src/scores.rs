//! Best scores per scenario, kept in a small JSON file so the menu can show progress.
//!
//! A missing or unreadable file is an empty table: losing best scores must never stop a game.

use std::collections::BTreeMap;
use std::path::Path;

use bulkhead_engine::ScoreCard;
use serde::{Deserialize, Serialize};

/// The best result of one scenario.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Best {
    pub total: u32,
    pub max: u32,
    pub grade: String,
    #[serde(default)]
    pub badges: Vec<String>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Scores {
    #[serde(default)]
    pub best: BTreeMap<String, Best>,
}

impl Scores {
    pub fn best(&self, scenario: &str) -> Option<&Best> {
        self.best.get(scenario)
    }

    /// Keep `card` if it beats the best so far; returns whether it did. A partial card (the
    /// session ended early when its lab was lost) is no session played through: never kept.
    pub fn offer(&mut self, scenario: &str, card: &ScoreCard) -> bool {
        if card.partial.is_some()
            || self
                .best
                .get(scenario)
                .is_some_and(|b| b.total >= card.total)
        {
            return false;
        }
        self.best.insert(
            scenario.to_string(),
            Best {
                total: card.total,
                max: card.max,
                grade: card.grade.clone(),
                badges: card.badges.iter().map(|b| b.title.clone()).collect(),
            },
        );
        true
    }
}

/// Read the table; anything wrong with the file reads as an empty table.
pub fn load(path: &Path) -> Scores {
    std::fs::read_to_string(path)
        .ok()
        .and_then(|text| serde_json::from_str(&text).ok())
        .unwrap_or_default()
}

/// Offer a finished session's card to the table on disk.
pub fn record(path: &Path, scenario: &str, card: &ScoreCard) -> std::io::Result<bool> {
    let mut scores = load(path);
    if !scores.offer(scenario, card) {
        return Ok(false);
    }
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir)?;
    }
    let text = serde_json::to_string_pretty(&scores).map_err(std::io::Error::other)?;
    // Write then rename, so a crash mid-write cannot leave half a file.
    let tmp = path.with_extension("json.tmp");
    std::fs::write(&tmp, text)?;
    std::fs::rename(&tmp, path)?;
    Ok(true)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn card(total: u32) -> ScoreCard {
        ScoreCard {
            scenario: "s".into(),
            total,
            max: 1000,
            grade: "B".into(),
            components: vec![],
            badges: vec![],
            timeline: vec![],
            facts: Default::default(),
            refused: vec![],
            faults: vec![],
            partial: None,
        }
    }

    #[test]
    fn a_partial_card_is_never_the_best() {
        let mut scores = Scores::default();
        let mut partial = card(900);
        partial.partial = Some("Docker does not answer".into());
        assert!(!scores.offer("s", &partial));
        assert!(scores.offer("s", &card(100)));
        assert!(!scores.offer("s", &partial));
        assert_eq!(scores.best("s").map(|b| b.total), Some(100));
    }

    #[test]
    fn keeps_only_the_best_and_survives_a_bad_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("sub/scores.json");
        assert!(record(&path, "s", &card(600)).unwrap());
        assert!(!record(&path, "s", &card(500)).unwrap());
        assert!(record(&path, "s", &card(700)).unwrap());
        assert_eq!(load(&path).best("s").map(|b| b.total), Some(700));
        std::fs::write(&path, "not json").unwrap();
        assert_eq!(load(&path), Scores::default());
    }
}

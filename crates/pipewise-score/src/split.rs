//! How rows are split for validation (issue #12 §4): by time by default
//! (train on the past, test on the later rows), a stratified random holdout
//! when there is no time to split on, and the stratified folds the
//! calibration and the choice between models are learnt on. Every split is
//! a function of the rows and a seed: the same rows and seed, the same split.

use rand::SeedableRng;
use rand::seq::SliceRandom;
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};

/// A training / test split of row indexes.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Split {
    /// How it was made, in words for the model card.
    pub method: String,
    /// Rows to learn on, ascending.
    pub train: Vec<usize>,
    /// Rows to judge on, ascending.
    pub test: Vec<usize>,
}

/// The last `test_share` of the rows by `time` (ties kept on one side: a
/// time on the cut goes to the test rows) are the test rows. Rows with no
/// time are training rows. `None` when either side would be empty.
pub fn by_time(time: &[Option<f64>], test_share: f64, what: &str) -> Option<Split> {
    let mut timed: Vec<(f64, usize)> = time
        .iter()
        .enumerate()
        .filter_map(|(i, t)| t.map(|t| (t, i)))
        .collect();
    timed.sort_by(|a, b| a.0.total_cmp(&b.0).then(a.1.cmp(&b.1)));
    let n_test = ((timed.len() as f64) * test_share).round() as usize;
    if n_test == 0 || n_test >= timed.len() {
        return None;
    }
    let cut = timed[timed.len() - n_test].0;
    let mut train = Vec::new();
    let mut test = Vec::new();
    for (i, t) in time.iter().enumerate() {
        match t {
            Some(t) if *t >= cut => test.push(i),
            _ => train.push(i),
        }
    }
    if train.is_empty() {
        return None;
    }
    Some(Split {
        method: format!(
            "by time: rows with {what} on or after {} are the test rows ({} of {}), earlier rows train",
            day_text(cut),
            test.len(),
            time.len()
        ),
        train,
        test,
    })
}

/// A stratified random holdout: `test_share` of each class, drawn with
/// `seed`.
pub fn stratified(y: &[bool], test_share: f64, seed: u64) -> Split {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let mut test = Vec::new();
    for class in [true, false] {
        let mut rows: Vec<usize> = (0..y.len()).filter(|&i| y[i] == class).collect();
        rows.shuffle(&mut rng);
        let n = ((rows.len() as f64) * test_share).round() as usize;
        test.extend_from_slice(&rows[..n.min(rows.len())]);
    }
    test.sort_unstable();
    let mut is_test = vec![false; y.len()];
    for &i in &test {
        is_test[i] = true;
    }
    let train = (0..y.len()).filter(|&i| !is_test[i]).collect();
    Split {
        method: format!(
            "stratified random holdout: {:.0}% of each class, seed {seed}",
            test_share * 100.0
        ),
        train,
        test,
    }
}

/// Stratified folds of the positions `0..y.len()`: each position's fold,
/// the classes dealt round-robin after a seeded shuffle.
pub fn folds(y: &[bool], k: usize, seed: u64) -> Vec<usize> {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let mut fold = vec![0; y.len()];
    for class in [true, false] {
        let mut rows: Vec<usize> = (0..y.len()).filter(|&i| y[i] == class).collect();
        rows.shuffle(&mut rng);
        for (n, i) in rows.into_iter().enumerate() {
            fold[i] = n % k.max(1);
        }
    }
    fold
}

/// Days since 1970 as an ISO date.
pub fn day_text(days: f64) -> String {
    // civil from days (Howard Hinnant's algorithm)
    let z = days.floor() as i64 + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    format!("{y:04}-{m:02}-{d:02}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn days_print_as_dates() {
        assert_eq!(day_text(0.0), "1970-01-01");
        assert_eq!(day_text(19_723.0), "2024-01-01");
        assert_eq!(day_text(11_016.0), "2000-02-29");
    }

    #[test]
    fn time_split_keeps_the_latest_rows_out() {
        let t = [Some(5.0), None, Some(1.0), Some(9.0), Some(9.0), Some(3.0)];
        let s = by_time(&t, 0.4, "created").unwrap();
        // 5 timed rows, 2 test: the cut is 9, both 9s are test
        assert_eq!(s.test, vec![3, 4]);
        assert_eq!(s.train, vec![0, 1, 2, 5]);
        assert!(by_time(&[Some(1.0), Some(1.0)], 0.5, "t").is_none());
    }

    #[test]
    fn stratified_split_and_folds_keep_class_shares() {
        let y: Vec<bool> = (0..100).map(|i| i % 4 == 0).collect();
        let s = stratified(&y, 0.2, 7);
        assert_eq!(s.test.len(), 20);
        assert_eq!(s.test.iter().filter(|&&i| y[i]).count(), 5);
        assert_eq!(s, stratified(&y, 0.2, 7));
        assert_ne!(s.test, stratified(&y, 0.2, 8).test);
        let f = folds(&y, 5, 1);
        for k in 0..5 {
            let rows: Vec<usize> = (0..100).filter(|&i| f[i] == k).collect();
            assert_eq!(rows.len(), 20);
            assert_eq!(rows.iter().filter(|&&i| y[i]).count(), 5);
        }
    }
}

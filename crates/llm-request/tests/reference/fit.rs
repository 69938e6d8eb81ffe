//! Re-fits the estimate's weights on the corpus: non-negative weighted
//! least squares over per-text-piece counters, each piece weighted by
//! 1/sqrt(tokens) (between fitting absolute and relative error).

use llm_request::TextStats;

/// One text piece: its counters and its reference token count.
pub struct Sample {
    /// Counters of the piece.
    pub x: [f64; TextStats::COUNTERS],
    /// Tokens of the piece.
    pub y: f64,
}

/// Solves `a · b = rhs` by Gaussian elimination with partial pivoting;
/// `None` when singular.
fn solve(mut a: Vec<Vec<f64>>, mut rhs: Vec<f64>) -> Option<Vec<f64>> {
    let n = rhs.len();
    for col in 0..n {
        let pivot = (col..n).max_by(|&i, &j| a[i][col].abs().total_cmp(&a[j][col].abs()))?;
        if a[pivot][col].abs() < 1e-9 {
            return None;
        }
        a.swap(col, pivot);
        rhs.swap(col, pivot);
        let pivot_row = a[col].clone();
        for row in col + 1..n {
            let f = a[row][col] / pivot_row[col];
            for (x, p) in a[row][col..].iter_mut().zip(&pivot_row[col..]) {
                *x -= f * p;
            }
            rhs[row] -= f * rhs[col];
        }
    }
    let mut b = vec![0.0; n];
    for row in (0..n).rev() {
        let s: f64 = (row + 1..n).map(|k| a[row][k] * b[k]).sum();
        b[row] = (rhs[row] - s) / a[row][row];
    }
    Some(b)
}

/// Fits weights on the samples. Counters that are zero in every sample
/// keep `default`'s weight; others that would get a negative weight are
/// dropped (weight 0) and the fit is repeated.
pub fn fit<'a>(
    samples: impl Iterator<Item = &'a Sample> + Clone,
    default: &[f64; TextStats::COUNTERS],
) -> [f64; TextStats::COUNTERS] {
    let mut active: Vec<usize> = (0..TextStats::COUNTERS)
        .filter(|&c| samples.clone().any(|s| s.x[c] > 0.0))
        .collect();
    let mut out = *default;
    for &c in &active {
        out[c] = 0.0;
    }
    loop {
        let n = active.len();
        let mut ata = vec![vec![0.0; n]; n];
        let mut aty = vec![0.0; n];
        for s in samples.clone() {
            let w = 1.0 / s.y.max(1.0); // squared weight of 1/sqrt(y)
            for (i, &ci) in active.iter().enumerate() {
                aty[i] += w * s.x[ci] * s.y;
                for (j, &cj) in active.iter().enumerate() {
                    ata[i][j] += w * s.x[ci] * s.x[cj];
                }
            }
        }
        let b = solve(ata, aty).expect("singular fit");
        if b.iter().all(|&v| v >= 0.0) {
            for (i, &c) in active.iter().enumerate() {
                out[c] = b[i];
            }
            return out;
        }
        active = active
            .into_iter()
            .zip(b)
            .filter(|&(_, v)| v >= 0.0)
            .map(|(c, _)| c)
            .collect();
    }
}

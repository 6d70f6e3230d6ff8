//! One-to-one assignment with a cost ceiling: the Hungarian method (Kuhn–Munkres with
//! potentials, O(n²·m)) over a rectangular cost matrix, where a pair whose cost is not
//! finite is forbidden and leaving a row unassigned costs `unassigned_cost`.

/// The pairs `(row, column)` of least total cost. Every row is either paired with one
/// column of finite cost or left alone at `unassigned_cost`; no column is used twice.
/// `costs[row][column]`; rows of unequal length are read as padded with forbidden pairs.
pub fn assign(costs: &[Vec<f64>], unassigned_cost: f64) -> Vec<(usize, usize)> {
    let rows = costs.len();
    if rows == 0 {
        return Vec::new();
    }
    let real_columns = costs.iter().map(Vec::len).max().unwrap_or(0);
    // One private "stay unassigned" column per row keeps the problem feasible; a forbidden
    // pair costs more than leaving every row alone, so it is never chosen.
    let columns = real_columns + rows;
    let forbidden = unassigned_cost * (rows as f64 + 1.0) + 1.0;
    let cost = |row: usize, column: usize| -> f64 {
        if column < real_columns {
            match costs[row].get(column) {
                Some(c) if c.is_finite() => *c,
                _ => forbidden,
            }
        } else if column - real_columns == row {
            unassigned_cost
        } else {
            forbidden
        }
    };

    // Potentials u (rows) and v (columns), 1-based with 0 as the virtual start column.
    let mut u = vec![0.0; rows + 1];
    let mut v = vec![0.0; columns + 1];
    let mut row_of_column = vec![0usize; columns + 1];
    let mut way = vec![0usize; columns + 1];
    for row in 1..=rows {
        row_of_column[0] = row;
        let mut column0 = 0;
        let mut min_slack = vec![f64::INFINITY; columns + 1];
        let mut used = vec![false; columns + 1];
        loop {
            used[column0] = true;
            let row0 = row_of_column[column0];
            let mut delta = f64::INFINITY;
            let mut column1 = 0;
            for column in 1..=columns {
                if used[column] {
                    continue;
                }
                let slack = cost(row0 - 1, column - 1) - u[row0] - v[column];
                if slack < min_slack[column] {
                    min_slack[column] = slack;
                    way[column] = column0;
                }
                if min_slack[column] < delta {
                    delta = min_slack[column];
                    column1 = column;
                }
            }
            for column in 0..=columns {
                if used[column] {
                    u[row_of_column[column]] += delta;
                    v[column] -= delta;
                } else {
                    min_slack[column] -= delta;
                }
            }
            column0 = column1;
            if row_of_column[column0] == 0 {
                break;
            }
        }
        // Flip the augmenting path.
        loop {
            let previous = way[column0];
            row_of_column[column0] = row_of_column[previous];
            column0 = previous;
            if column0 == 0 {
                break;
            }
        }
    }
    let mut pairs: Vec<(usize, usize)> = (1..=real_columns)
        .filter(|&column| row_of_column[column] != 0)
        .map(|column| (row_of_column[column] - 1, column - 1))
        .filter(|&(row, column)| costs[row].get(column).is_some_and(|c| c.is_finite()))
        .collect();
    pairs.sort_unstable();
    pairs
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn total(costs: &[Vec<f64>], pairs: &[(usize, usize)], unassigned: f64) -> f64 {
        let paired: f64 = pairs.iter().map(|&(r, c)| costs[r][c]).sum();
        paired + unassigned * (costs.len() - pairs.len()) as f64
    }

    /// Every one-to-one partial assignment, by brute force.
    fn best_by_search(costs: &[Vec<f64>], unassigned: f64) -> f64 {
        fn go(row: usize, costs: &[Vec<f64>], used: &mut Vec<bool>, unassigned: f64) -> f64 {
            if row == costs.len() {
                return 0.0;
            }
            let mut best = unassigned + go(row + 1, costs, used, unassigned);
            for column in 0..costs[row].len() {
                if !used[column] && costs[row][column].is_finite() {
                    used[column] = true;
                    best = best.min(costs[row][column] + go(row + 1, costs, used, unassigned));
                    used[column] = false;
                }
            }
            best
        }
        let columns = costs.iter().map(Vec::len).max().unwrap_or(0);
        go(0, costs, &mut vec![false; columns], unassigned)
    }

    #[test]
    fn the_cheaper_crossing_wins() {
        let costs = vec![vec![1.0, 2.0], vec![1.5, 10.0]];
        assert_eq!(assign(&costs, 100.0), vec![(0, 1), (1, 0)]);
    }

    #[test]
    fn a_pair_dearer_than_staying_alone_is_left_out() {
        let costs = vec![vec![5.0, f64::INFINITY], vec![f64::INFINITY, 0.5]];
        assert_eq!(assign(&costs, 4.0), vec![(1, 1)]);
    }

    #[test]
    fn more_rows_than_columns() {
        let costs = vec![vec![3.0], vec![1.0], vec![2.0]];
        assert_eq!(assign(&costs, 9.0), vec![(1, 0)]);
    }

    proptest! {
        #[test]
        fn matches_exhaustive_search(
            costs in prop::collection::vec(
                prop::collection::vec(prop_oneof![3 => 0.0f64..10.0, 1 => Just(f64::INFINITY)], 0..5),
                0..5,
            ),
            unassigned in 0.5f64..12.0,
        ) {
            let pairs = assign(&costs, unassigned);
            let mut rows: Vec<usize> = pairs.iter().map(|p| p.0).collect();
            let mut columns: Vec<usize> = pairs.iter().map(|p| p.1).collect();
            rows.dedup();
            columns.sort_unstable();
            columns.dedup();
            prop_assert_eq!(rows.len(), pairs.len());
            prop_assert_eq!(columns.len(), pairs.len());
            let found = total(&costs, &pairs, unassigned);
            prop_assert!((found - best_by_search(&costs, unassigned)).abs() < 1e-9);
        }
    }
}

//! A hit's text cut at its highlights, so every view (the web app's
//! `<mark>`s, the terminal's bold) shows the same words marked without
//! knowing how the relay counted them. The ranges come from the relay, so
//! they are taken as untrusted: out of range, unsorted or overlapping
//! ranges are clipped, ordered and merged, never a panic.

/// One run of a hit's text: marked (a match) or not.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Piece<'a> {
    pub text: &'a str,
    pub hit: bool,
}

/// `text` in runs, alternating plain and marked as `highlights` say
/// (`[start, end)` in characters, as in `search_results`). Empty runs are
/// left out; joined back, the runs are `text`.
pub fn pieces<'a>(text: &'a str, highlights: &[[usize; 2]]) -> Vec<Piece<'a>> {
    // Byte offset of every char boundary, the end included.
    let bounds: Vec<usize> = text
        .char_indices()
        .map(|(i, _)| i)
        .chain(std::iter::once(text.len()))
        .collect();
    let chars = bounds.len() - 1;
    let mut ranges: Vec<[usize; 2]> = highlights
        .iter()
        .map(|&[s, e]| [s.min(chars), e.min(chars)])
        .filter(|[s, e]| s < e)
        .collect();
    ranges.sort_unstable();
    let mut out = Vec::new();
    let mut at = 0; // in chars
    for [start, end] in ranges {
        let start = start.max(at);
        if start >= end {
            continue;
        }
        if start > at {
            out.push(Piece {
                text: &text[bounds[at]..bounds[start]],
                hit: false,
            });
        }
        out.push(Piece {
            text: &text[bounds[start]..bounds[end]],
            hit: true,
        });
        at = end;
    }
    if at < chars {
        out.push(Piece {
            text: &text[bounds[at]..],
            hit: false,
        });
    }
    // Two touching marked runs read as one.
    let mut merged: Vec<Piece<'a>> = Vec::with_capacity(out.len());
    for piece in out {
        match merged.last_mut() {
            Some(last) if last.hit && piece.hit => {
                let start = last.text.as_ptr() as usize - text.as_ptr() as usize;
                let end = start + last.text.len() + piece.text.len();
                last.text = &text[start..end];
            }
            _ => merged.push(piece),
        }
    }
    merged
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn show(pieces: &[Piece]) -> String {
        pieces
            .iter()
            .map(|p| match p.hit {
                true => format!("[{}]", p.text),
                false => p.text.to_owned(),
            })
            .collect()
    }

    #[test]
    fn marks_words_by_character_not_byte() {
        let text = "我们的分布式聊天系统 deploys";
        assert_eq!(
            show(&pieces(text, &[[6, 8], [11, 17]])),
            "我们的分布式[聊天]系统 [deploy]s"
        );
    }

    #[test]
    fn bad_ranges_are_clipped_ordered_and_merged() {
        let text = "hello world";
        assert_eq!(
            show(&pieces(text, &[[6, 99], [0, 2], [1, 4]])),
            "[hell]o [world]"
        );
        assert_eq!(show(&pieces(text, &[[5, 2], [11, 11]])), "hello world");
        assert_eq!(show(&pieces(text, &[[0, 5], [5, 6]])), "[hello ]world");
        assert_eq!(show(&pieces("", &[[0, 3]])), "");
    }

    proptest! {
        #[test]
        fn pieces_always_join_back_to_the_text(
            text in "\\PC{0,40}",
            ranges in proptest::collection::vec((0usize..60, 0usize..60), 0..6),
        ) {
            let ranges: Vec<[usize; 2]> = ranges.into_iter().map(|(a, b)| [a, b]).collect();
            let cut = pieces(&text, &ranges);
            prop_assert_eq!(cut.iter().map(|p| p.text).collect::<String>(), text.clone());
            prop_assert!(cut.iter().all(|p| !p.text.is_empty()));
            prop_assert!(cut.windows(2).all(|w| !(w[0].hit && w[1].hit)));
        }
    }
}

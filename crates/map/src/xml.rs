//! What the XML importers ([`crate::lanelet2`], [`crate::opendrive`]) share: parsing with
//! errors that name the line and column, and reading numbers from attribute text.

use crate::MapError;
use roxmltree::Document;
use std::path::Path;

/// Parses `text` as XML; `path` only names the file in the error.
pub(crate) fn parse<'input>(text: &'input str, path: &Path) -> Result<Document<'input>, MapError> {
    Document::parse(text).map_err(|error| parse_error(text, path, &error))
}

fn parse_error(text: &str, path: &Path, error: &roxmltree::Error) -> MapError {
    use roxmltree::Error::{UnclosedRootNode, UnexpectedEndOfStream};
    match error {
        // roxmltree places these at 1:1; the useful place is where the text stops.
        UnexpectedEndOfStream | UnclosedRootNode => {
            let content = text.trim_end();
            let line = content.matches('\n').count() + 1;
            let column = content
                .rsplit('\n')
                .next()
                .map_or(0, |last| last.chars().count())
                + 1;
            MapError::invalid(
                path,
                format!("line {line}, column {column}"),
                format!("the XML ends before it is complete (truncated file?): {error}"),
            )
        }
        _ => {
            let pos = error.pos();
            MapError::invalid(
                path,
                format!("line {}, column {}", pos.row, pos.col),
                format!("malformed XML: {error}"),
            )
        }
    }
}

/// A finite number written as attribute or tag text; spaces around it are allowed.
pub(crate) fn number(text: &str) -> Option<f64> {
    text.trim().parse::<f64>().ok().filter(|v| v.is_finite())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn truncated_document_is_placed_where_the_text_stops() {
        let text = "<osm>\n  <node id='1'>\n  <tag k='a' v='b'/>\n";
        let Err(MapError::Invalid { place, message, .. }) = parse(text, Path::new("cut.osm"))
        else {
            panic!("a truncated document parsed");
        };
        assert_eq!(place, "line 3, column 21");
        assert!(message.contains("truncated"), "{message}");
    }

    #[test]
    fn numbers_must_be_finite() {
        assert_eq!(number(" 2.5 "), Some(2.5));
        assert_eq!(number("inf"), None);
        assert_eq!(number("NaN"), None);
        assert_eq!(number("50 km/h"), None);
    }
}

//! Message text as the view's pieces (plain text and links): the pure
//! function lives in `shared::text`, where its tests run natively; the web
//! app uses it from here.

pub use shared::text::{pieces, Piece};

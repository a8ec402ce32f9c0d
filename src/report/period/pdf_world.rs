//! The smallest typst `World` that typesets the period report's PDF: one main source (the
//! template compiled into the binary), the files handed to it in memory (the report's JSON,
//! the charts' SVG, the logo) and the fonts of `typst-assets`. It exists so the PDF needs no
//! browser, no font or file of the host, and no network. It must not read the disk, fetch
//! packages or know the report's content; asking for anything else is "not found".

use std::collections::HashMap;
use std::sync::OnceLock;

use typst::diag::{FileError, FileResult};
use typst::foundations::{Bytes, Datetime};
use typst::syntax::{FileId, Source, VirtualPath};
use typst::text::{Font, FontBook};
use typst::utils::LazyHash;
use typst::{Library, LibraryExt as _, World};

/// The fonts, parsed once per process: the families of `typst-assets` (Libertinus Serif for
/// text, DejaVu Sans Mono for hashes).
fn fonts() -> &'static (LazyHash<FontBook>, Vec<Font>) {
    static FONTS: OnceLock<(LazyHash<FontBook>, Vec<Font>)> = OnceLock::new();
    FONTS.get_or_init(|| {
        let fonts: Vec<Font> = typst_assets::fonts()
            .flat_map(|data| Font::iter(Bytes::new(data)))
            .collect();
        let book = FontBook::from_fonts(&fonts);
        (LazyHash::new(book), fonts)
    })
}

fn library() -> &'static LazyHash<Library> {
    static LIBRARY: OnceLock<LazyHash<Library>> = OnceLock::new();
    LIBRARY.get_or_init(|| LazyHash::new(Library::default()))
}

pub(super) struct ReportWorld {
    main: Source,
    files: HashMap<FileId, Bytes>,
}

/// The id of an in-memory file at `path` (`data.json`, `charts/0.svg`).
fn id(path: &str) -> FileId {
    FileId::new(None, VirtualPath::new(path))
}

impl ReportWorld {
    /// `template` as the main source, beside `files` (path, bytes).
    pub(super) fn new(template: &str, files: Vec<(String, Vec<u8>)>) -> ReportWorld {
        let main = Source::new(id("report.typ"), template.to_string());
        let files = files
            .into_iter()
            .map(|(path, bytes)| (id(&path), Bytes::new(bytes)))
            .collect();
        ReportWorld { main, files }
    }
}

impl World for ReportWorld {
    fn library(&self) -> &LazyHash<Library> {
        library()
    }

    fn book(&self) -> &LazyHash<FontBook> {
        &fonts().0
    }

    fn main(&self) -> FileId {
        self.main.id()
    }

    fn source(&self, id: FileId) -> FileResult<Source> {
        if id == self.main.id() {
            return Ok(self.main.clone());
        }
        Err(FileError::NotFound(id.vpath().as_rootless_path().into()))
    }

    fn file(&self, id: FileId) -> FileResult<Bytes> {
        self.files
            .get(&id)
            .cloned()
            .ok_or_else(|| FileError::NotFound(id.vpath().as_rootless_path().into()))
    }

    fn font(&self, index: usize) -> Option<Font> {
        fonts().1.get(index).cloned()
    }

    /// No clock: the report's own generation time is in its data, and the PDF's date is
    /// set from it, so the same report gives the same bytes.
    fn today(&self, _offset: Option<i64>) -> Option<Datetime> {
        None
    }
}

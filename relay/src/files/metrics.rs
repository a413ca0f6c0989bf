//! The files' metrics (docs/OPERATIONS.md): uploads accepted and refused
//! by reason, downloads, garbage collected files, bytes stored.

use prometheus_client::{
    encoding::EncodeLabelSet,
    metrics::{counter::Counter, family::Family, gauge::Gauge},
    registry::Registry,
};

/// Why an upload was refused: a closed set, each a label value.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refused {
    Unauthorized,
    TooLarge,
    RateLimited,
    Quota,
    StoreFull,
    BadImage,
    ImageTooLarge,
}

impl Refused {
    pub const ALL: [Refused; 7] = [
        Refused::Unauthorized,
        Refused::TooLarge,
        Refused::RateLimited,
        Refused::Quota,
        Refused::StoreFull,
        Refused::BadImage,
        Refused::ImageTooLarge,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Refused::Unauthorized => "unauthorized",
            Refused::TooLarge => "too_large",
            Refused::RateLimited => "rate_limited",
            Refused::Quota => "quota",
            Refused::StoreFull => "store_full",
            Refused::BadImage => "bad_image",
            Refused::ImageTooLarge => "image_too_large",
        }
    }
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ReasonLabel {
    reason: &'static str,
}

#[derive(Clone, Default)]
pub struct FileMetrics {
    pub uploads: Counter,
    pub upload_bytes: Counter,
    refused: Family<ReasonLabel, Counter>,
    pub downloads: Counter,
    pub downloads_refused: Counter,
    pub collected: Counter,
    pub stored_bytes: Gauge,
}

impl FileMetrics {
    /// Registers the files' metrics (`palaver_files_*`).
    pub fn register(registry: &mut Registry) -> FileMetrics {
        let metrics = FileMetrics::default();
        for reason in Refused::ALL {
            let _ = metrics.refused.get_or_create(&ReasonLabel {
                reason: reason.as_str(),
            });
        }
        let r = registry.sub_registry_with_prefix("files");
        r.register("uploads", "Uploads stored", metrics.uploads.clone());
        r.register(
            "upload_bytes",
            "Bytes of the uploads stored",
            metrics.upload_bytes.clone(),
        );
        r.register(
            "uploads_refused",
            "Uploads refused, by reason",
            metrics.refused.clone(),
        );
        r.register(
            "downloads",
            "Files and thumbnails served",
            metrics.downloads.clone(),
        );
        r.register(
            "downloads_refused",
            "Downloads refused: a missing, forged or expired capability, or an unknown file",
            metrics.downloads_refused.clone(),
        );
        r.register(
            "collected",
            "Files deleted by garbage collection (no message posts them any more)",
            metrics.collected.clone(),
        );
        r.register(
            "stored_bytes",
            "Bytes of every stored file and thumbnail",
            metrics.stored_bytes.clone(),
        );
        metrics
    }

    pub fn refused(&self, reason: Refused) {
        self.refused
            .get_or_create(&ReasonLabel {
                reason: reason.as_str(),
            })
            .inc();
    }
}

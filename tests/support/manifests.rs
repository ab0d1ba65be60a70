//! Reading manifests for tests: the committed CRDs and the YAML documents under `examples/`.

use std::path::{Path, PathBuf};

use serde_json::Value;

/// The repository root.
pub fn repo_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// Every YAML document in `path` (a file or a directory of `.yaml` files), with the file it came from.
pub fn documents(path: &Path) -> Vec<(PathBuf, Value)> {
    let mut files: Vec<PathBuf> = if path.is_dir() {
        std::fs::read_dir(path)
            .unwrap()
            .map(|e| e.unwrap().path())
            .filter(|p| p.extension().is_some_and(|e| e == "yaml" || e == "yml"))
            .collect()
    } else {
        vec![path.to_path_buf()]
    };
    files.sort();
    let mut docs = Vec::new();
    for file in files {
        let text = std::fs::read_to_string(&file).unwrap();
        let values: Vec<Value> = serde_saphyr::from_multiple(&text)
            .unwrap_or_else(|e| panic!("{}: {e}", file.display()));
        docs.extend(values.into_iter().filter(|v| !v.is_null()).map(|v| (file.clone(), v)));
    }
    docs
}

/// The `openAPIV3Schema` of the committed CRD for `kind`.
pub fn crd_schema(kind: &str) -> Value {
    documents(&repo_root().join("crds"))
        .into_iter()
        .map(|(_, crd)| crd)
        .find(|crd| crd["spec"]["names"]["kind"] == kind)
        .map(|crd| crd["spec"]["versions"][0]["schema"]["openAPIV3Schema"].clone())
        .unwrap_or_else(|| panic!("no CRD for {kind} in crds/"))
}

//! Fragments: named step sequences with declared inputs and outputs, which cases share through
//! `use` steps (`<cases>/fragments/NAME.yaml`). A fragment is read once per load; its steps
//! are made into the plan where a case uses it, with that case's roles and clients, so an
//! error in them names both the fragment's line and the using line.

use super::{LoadError, FRAGMENTS};
use crate::yaml::Spanned;
use crate::yaml::{Node, Pos};
use serde::Deserialize;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct FragmentFile {
    /// What the steps do, in one sentence.
    title: String,
    /// Input name → what it is; every input must be given with `with`.
    #[serde(default)]
    inputs: BTreeMap<String, Spanned<String>>,
    /// Output name → what it is: the saves the using case sees after the fragment.
    #[serde(default)]
    outputs: BTreeMap<String, Spanned<String>>,
    /// Requirements the fragment's expectations are charged to (default: none, it is setup).
    #[serde(default)]
    checks: Vec<Spanned<String>>,
    steps: Vec<Spanned<Node>>,
}

/// A fragment as its file says it; its steps are read where it is used.
#[derive(Debug)]
pub struct Fragment {
    pub name: String,
    pub title: String,
    pub file: PathBuf,
    pub source: String,
    /// Declared inputs with what they are, in name order.
    pub inputs: Vec<(String, String)>,
    /// Declared outputs with where they are declared (their descriptions).
    pub outputs: Vec<(String, Pos)>,
    pub checks: Vec<Spanned<String>>,
    pub steps: Vec<Spanned<Node>>,
}

impl Fragment {
    pub fn input_list(&self) -> String {
        if self.inputs.is_empty() {
            return "none".into();
        }
        self.inputs
            .iter()
            .map(|(i, _)| i.as_str())
            .collect::<Vec<_>>()
            .join(", ")
    }
}

/// The fragments of a cases folder, by name.
#[derive(Debug, Default)]
pub struct Library {
    folder: PathBuf,
    fragments: BTreeMap<String, Result<Fragment, Vec<LoadError>>>,
}

impl Library {
    /// Reads every fragment below `<root>/fragments`; a folder that does not exist holds none.
    pub fn load(root: &Path) -> Self {
        let folder = root.join(FRAGMENTS);
        let mut fragments = BTreeMap::new();
        let mut files = Vec::new();
        if folder.is_dir() {
            if let Err(e) = yaml_files(&folder, &mut files) {
                fragments.insert(
                    String::new(),
                    Err(vec![LoadError::file(
                        &folder,
                        format!("cannot read the fragments folder: {e}"),
                    )]),
                );
            }
        }
        for file in files {
            let name = super::case_id(&folder, &file).replace("::", "/");
            fragments.insert(name.clone(), read(&name, &file));
        }
        Self { folder, fragments }
    }

    pub fn folder(&self) -> &Path {
        &self.folder
    }

    pub fn get(&self, name: &str) -> Option<&Result<Fragment, Vec<LoadError>>> {
        self.fragments.get(name)
    }

    pub fn names(&self) -> Vec<&str> {
        self.fragments
            .keys()
            .filter(|k| !k.is_empty())
            .map(String::as_str)
            .collect()
    }

    /// Every fragment's own errors (a fragment no case uses is still read).
    pub fn errors(&self) -> impl Iterator<Item = &LoadError> {
        self.fragments
            .values()
            .filter_map(|f| f.as_ref().err())
            .flatten()
    }
}

fn yaml_files(dir: &Path, out: &mut Vec<PathBuf>) -> std::io::Result<()> {
    let mut entries: Vec<_> = std::fs::read_dir(dir)?.collect::<Result<_, _>>()?;
    entries.sort_by_key(|e| e.file_name());
    for entry in entries {
        let path = entry.path();
        if entry.file_type()?.is_dir() {
            yaml_files(&path, out)?;
        } else if path.extension().is_some_and(|e| e == "yaml" || e == "yml") {
            out.push(path);
        }
    }
    Ok(())
}

fn read(name: &str, file: &Path) -> Result<Fragment, Vec<LoadError>> {
    let source = std::fs::read_to_string(file)
        .map_err(|e| vec![LoadError::file(file, format!("cannot read: {e}"))])?;
    let parsed: FragmentFile = serde_saphyr::from_str(&source)
        .map_err(|e| vec![LoadError::from_yaml(file, &source, &e)])?;
    let mut errors = Vec::new();
    if parsed.steps.is_empty() {
        errors.push(LoadError::at(
            file,
            &source,
            Pos { line: 1, column: 1 },
            "`steps` must have at least one step",
        ));
    }
    let identifier = |s: &str| {
        s.chars()
            .next()
            .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
            && s.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
    };
    for (input, about) in parsed.inputs.iter().chain(&parsed.outputs) {
        if !identifier(input) {
            errors.push(LoadError::at(
                file,
                &source,
                Pos::of(about),
                format!("{input:?} cannot be a variable name: use letters, digits and _"),
            ));
        }
    }
    if !errors.is_empty() {
        return Err(errors);
    }
    Ok(Fragment {
        name: name.to_string(),
        title: parsed.title,
        file: file.to_path_buf(),
        inputs: parsed
            .inputs
            .into_iter()
            .map(|(k, v)| (k, v.value))
            .collect(),
        outputs: parsed
            .outputs
            .into_iter()
            .map(|(k, about)| (k, Pos::of(&about)))
            .collect(),
        checks: parsed.checks,
        steps: parsed.steps,
        source,
    })
}

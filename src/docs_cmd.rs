//! `kinit completion` and `kinit man`: the shell completions and man pages of the command tree,
//! made from the same clap definition as the parser, so they never fall behind it.

use std::path::Path;

use crate::exit::{self, Exit};

pub fn completion(mut tree: clap::Command, shell: clap_complete::Shell) {
    clap_complete::generate(shell, &mut tree, "kinit", &mut std::io::stdout());
}

/// One page per command, named as man(1) expects sub-commands (`kinit-init-phase.1`).
pub fn man_pages(tree: clap::Command, dir: &str) -> Result<i32, Exit> {
    let dir = Path::new(dir);
    std::fs::create_dir_all(dir)
        .map_err(|e| Exit::failure(format!("cannot make {}: {e}", dir.display())))?;
    let mut written = Vec::new();
    write_pages(tree, "kinit", dir, &mut written)?;
    for page in &written {
        println!("{page}");
    }
    Ok(exit::SUCCESS)
}

fn write_pages(
    command: clap::Command,
    name: &str,
    dir: &Path,
    written: &mut Vec<String>,
) -> Result<(), Exit> {
    let command = command.bin_name(name.replace('-', " "));
    let mut page = Vec::new();
    clap_mangen::Man::new(command.clone())
        .title(name)
        .render(&mut page)
        .map_err(|e| Exit::failure(format!("cannot render the man page of {name}: {e}")))?;
    let path = dir.join(format!("{name}.1"));
    std::fs::write(&path, page)
        .map_err(|e| Exit::failure(format!("cannot write {}: {e}", path.display())))?;
    written.push(path.display().to_string());
    for sub in command.get_subcommands().filter(|s| !s.is_hide_set()) {
        write_pages(
            sub.clone(),
            &format!("{name}-{}", sub.get_name()),
            dir,
            written,
        )?;
    }
    Ok(())
}

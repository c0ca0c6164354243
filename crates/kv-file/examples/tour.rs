//! A guided tour of the storage layer: `cargo run -p kv-file --example tour [DIR]`.
//!
//! Without `DIR` it works in a temporary directory that is removed at the end; with one, it
//! leaves the files there so you can look at them with `hexdump -C DIR/tour.db`.

use kv_file::{BlockId, Crash, FileManager, FileOptions, MemStorage};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let temp = tempfile::tempdir()?;
    let dir = std::env::args()
        .nth(1)
        .map_or_else(|| temp.path().to_path_buf(), Into::into);

    println!("1. Open {} and write three blocks", dir.display());
    {
        let fm = FileManager::open(&dir)?;
        let mut page = fm.new_page();
        for (i, word) in ["blocks", "pages", "files"].iter().enumerate() {
            let block = fm.append("tour.db")?;
            page.set_u64(0, i as u64)?;
            page.set_string(8, word)?;
            fm.write(&block, &mut page)?;
            println!("   wrote {block}: ({i}, {word:?})");
        }
        fm.sync("tour.db")?;
        println!("   synced; {:?}", fm.stats());

        println!("\n2. A second owner is refused while the first is open");
        match FileManager::open(&dir) {
            Err(e) => println!("   {e}"),
            Ok(_) => return Err("the directory lock did not hold".into()),
        }
    }

    let fm = FileManager::open(&dir)?;
    println!(
        "\n3. Reopen and read back (block size {} from the header)",
        fm.block_size()
    );
    let mut page = fm.new_page();
    for n in 0..fm.length("tour.db")? {
        fm.read(&BlockId::new("tour.db", n), &mut page)?;
        println!(
            "   read  tour.db:{n}: ({}, {:?})",
            page.get_u64(0)?,
            page.get_string(8)?
        );
    }

    println!("\n4. Out-of-range accesses are errors, not panics");
    println!("   {}", page.get_u64(page.capacity() - 4).unwrap_err());
    println!(
        "   {}",
        fm.read(&BlockId::new("tour.db", 99), &mut page)
            .unwrap_err()
    );

    println!("\n5. Simulated power loss in the middle of a write");
    let disk = MemStorage::new();
    let fm = FileManager::open_with(disk.clone(), FileOptions::default())?;
    let block = fm.append("sim.db")?;
    page.set_string(8, "synced")?;
    fm.write(&block, &mut page)?;
    fm.sync("sim.db")?;
    page.set_string(8, "never synced")?;
    fm.write(&block, &mut page)?;
    disk.crash(Crash::torn(512));
    println!("   crashed: only the first 512 bytes of the last write landed");
    let fm = FileManager::open_with(disk, FileOptions::default())?;
    match fm.read(&block, &mut page) {
        Err(e) => println!("   {e}"),
        Ok(()) => return Err("a torn block was not detected".into()),
    }
    println!("\nDone. Chapter 2 of the book explains each step.");
    Ok(())
}

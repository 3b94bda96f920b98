//! Render a record's after-action report without the CLI: `cargo run -p bulkhead-report
//! --example render -- RECORD OUT.html` (for working on the page's look).

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let (Some(input), Some(output)) = (args.next(), args.next()) else {
        return Err("usage: render RECORD OUT.html".into());
    };
    let record = bulkhead_engine::Record::read(input.as_ref())?;
    let card = bulkhead_engine::score(&record.scenario, &record.topology, &record.lines, None);
    let started = std::time::Instant::now();
    let page = bulkhead_report::html(&record, &card);
    eprintln!("{} bytes in {:?}", page.len(), started.elapsed());
    std::fs::write(output, page)?;
    Ok(())
}

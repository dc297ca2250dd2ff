//! Runs the field simulator against a running server, so a newcomer can watch the console's
//! figures fill up live: `field-sim --server http://127.0.0.1:8080`.

use clap::Parser;

#[derive(Parser)]
#[command(
    about = "Simulate community workers surveying the demo district against a running server"
)]
struct Args {
    #[arg(long, default_value = "http://127.0.0.1:8080")]
    server: String,
    /// Worker devices.
    #[arg(long, default_value_t = 20)]
    devices: usize,
    /// Persons each worker surveys per simulated day.
    #[arg(long, default_value_t = 12)]
    per_day: usize,
    /// Real seconds between simulated days.
    #[arg(long, default_value_t = 3)]
    pause: u64,
    #[arg(long, default_value_t = 1)]
    seed: u64,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let dir = tempfile::tempdir()?;
    println!(
        "field-sim: signing in {} devices at {}",
        args.devices, args.server
    );
    let mut field =
        doorstep_tests::field::Field::setup(&args.server, dir.path(), args.devices, 2, args.seed)
            .await?;
    let mut day = 0;
    loop {
        day += 1;
        let before = field.stats.surveys;
        field.day(args.per_day, 20).await?;
        println!(
            "day {day}: {} surveys in all, {} conflicts, {} merged items",
            field.stats.surveys, field.stats.conflict_items, field.stats.merged_items
        );
        if field.stats.surveys == before {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_secs(args.pause)).await;
    }
    field.finish().await?;
    field.verify().await?;
    println!(
        "field-sim: campaign complete and verified: {:?}",
        field.stats
    );
    Ok(())
}

use conform::env::{RealSide, pair_by_name};
use conform::scenario::Scenario;
fn main() {
    let args: Vec<String> = std::env::args().collect();
    let pair = pair_by_name(&args[1]).unwrap();
    let mut real = RealSide::standard(pair.real).unwrap();
    if args[2] == "random" {
        let n: u64 = args[3].parse().unwrap();
        let seed: u64 = args[4].parse().unwrap();
        let rep = conform::random::run_random(&mut real, pair, n, seed, 3, &mut |_, _| {}).unwrap();
        println!("cases {} steps {} divergences {} time {:?}", rep.cases, rep.steps, rep.divergences, rep.elapsed);
        for f in &rep.found {
            println!("--- case {} seed {:#x}: {}", f.case, f.seed, f.divergence);
            print!("{}", f.scenario.to_text());
        }
        return;
    }
    let scs: Vec<Scenario> = if args[2] == "all" { conform::scenarios::all() } else if let Some(s) = conform::scenarios::by_name(&args[2]) { vec![s] } else {
        vec![Scenario::parse("", &std::fs::read_to_string(&args[2]).unwrap()).unwrap()] };
    let verbose = scs.len() == 1;
    let (mut ok, mut n) = (0, 0);
    for sc in &scs {
        n += 1;
        let c = conform::run_case(&mut real, pair, sc).unwrap();
        if verbose { print!("{}", conform::transcript(sc, &c)); }
        match &c.divergence { Some(d) => println!("DIVERGE {}: {d}", sc.name), None => ok += 1 }
    }
    println!("{ok}/{n} agree on {}", args[1]);
}

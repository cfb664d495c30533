"""The ``gtg`` command: ``gtg --version``, ``gtg bench ...``, ``gtg train``, ``gtg evaluate``, ``gtg data ...``,
``gtg study ...`` and ``gtg book ...``; ``gtg COMMAND --help`` lists each one's subcommands."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from . import __version__


def _device(name: str) -> str:
    from ._checks import check_device

    try:
        return str(check_device(name))
    except ValueError as exc:
        raise SystemExit(f"gtg: --{exc}") from None


def _sizes(values):
    if not values:
        return None
    if len(values) % 3:
        raise SystemExit("gtg: --size takes X Y Z triples")
    return tuple(tuple(values[i:i + 3]) for i in range(0, len(values), 3))


_USER_METAVAR = "USER[-OPTION=VALUE]"


def _user_argument(text: str) -> str:
    """``--user``: a user of the registry (gtg_core.clicks.USER_REGISTRY) or a spec with options; the error
    lists the users and their options (argparse's ``choices`` cannot hold a spec)."""
    from . import clicks

    try:
        return clicks.check_user(text, "--user")
    except ValueError as exc:
        users = "; ".join(name + (" (" + ", ".join(f"{k}={d}" for k, (d, _) in u.options.items()) + ")"
                                  if u.options else "") for name, u in clicks.USER_REGISTRY.items())
        raise argparse.ArgumentTypeError(f"{exc}. Users (options with defaults): {users}") from None


def cmd_bench(args) -> int:
    from . import bench

    device = _device(args.device)
    sizes = _sizes(args.size)
    if args.what == "guidance" and args.profile:
        for name in args.profile:
            bench.profile_signal(name, args.variant, (sizes or ((400, 400, 352),))[0], device=device)
    elif args.what == "guidance":
        bench.bench_guidance(device, sizes or bench.DEFAULT_SIZES, repeats=args.repeats, out_dir=args.out,
                             skip_geodesic=args.skip_geodesic)
    elif args.what == "local":
        bench.bench_local(device, sizes or bench.DEFAULT_SIZES, repeats=min(args.repeats, 3), out_dir=args.out)
    elif args.what == "study":
        bench.bench_study(args.study, out_dir=args.out)
    elif args.what == "ops":
        bench.bench_ops(tuple(sizes[0]) if sizes else (128, 128, 128), out_dir=args.out)
    elif args.what == "data":
        bench.bench_phantoms(tuple(sizes[0]) if sizes else (128, 128, 64), repeats=args.repeats, out_dir=args.out)
    elif args.what == "run":
        bench.bench_run(out_dir=args.out, threads=args.threads)
    elif args.what == "step":
        import torch

        torch.set_num_threads(args.threads)  # as a study worker runs (one thread by default)
        bench.bench_step(device, rounds=args.repeats, out_dir=args.out)
    elif args.what == "clicks":
        bench.bench_clicks(device, sizes or bench.clicks.DEFAULT_SIZES, repeats=args.repeats, out_dir=args.out)
    else:
        default = ((128, 128, 128),) if device.startswith("cuda") else ((64, 64, 32),)
        bench.bench_train(device, sizes or default, repeats=min(args.repeats, 3), out_dir=args.out,
                          filters=tuple(args.filters) if args.filters else None)
    return 0


def cmd_train(args) -> int:
    from . import train

    cfg = train.TrainConfig.from_yaml(args.config) if args.config else train.TrainConfig()
    for key, value in (args.set or []):
        cfg = train.TrainConfig.from_dict({**cfg.to_dict(), key: _parse_value(value)})
    run = train.fit(cfg, progress=not args.quiet)
    print(f"run folder: {run}")
    return 0


def _parse_value(text: str):
    import yaml

    return yaml.safe_load(text)


def cmd_evaluate(args) -> int:
    import json

    from . import train

    out = train.evaluate(args.run_dir, dataset=args.dataset, device=args.device, split=args.split, user=args.user)
    print(json.dumps(out["metrics"], indent=2))
    return 0


def cmd_data(args) -> int:
    from . import data

    if args.data_cmd == "synth":
        paths = data.write_dataset(args.out, args.kind, n_cases=args.n, shape=tuple(args.shape), seed=args.seed)
        print(f"wrote {len(paths)} cases of {args.kind} to {args.out}")
        return 0
    report = data.check_dataset(args.root)
    print(report.to_text())
    return 0 if report.ok else 1


def cmd_study(args) -> int:
    from . import study, words

    if args.study_cmd == "collect":
        spec = study.load_study(args.study) if args.study else None
        if args.out:
            table = study.export(args.root, args.out, spec, runs=args.runs)
            print(f"wrote {args.out}: results.csv, histories.csv, traces.csv, provenance.json"
                  + (", runs/ (every finished run folder, without models)" if args.runs else ""))
        else:
            table = study.collect(args.root)
            print(f"wrote {args.root}/results.csv")
        print(table["status"].value_counts().to_string() if len(table) else "no run folders")
        bad = table.loc[table["status"] == "unreadable", "run"].tolist() if len(table) else []
        if bad:
            print(f"gtg: unreadable run folder(s): {', '.join(bad)}", file=sys.stderr)
            return 1
        return 0
    if args.study_cmd == "precision":
        res = study.load_results(args.source)
        out = study.precision_check(res, args.stage)
        text = words.precision_markdown(res, out)
        print(text)
        if args.out:
            from .io import atomic_write_text
            atomic_write_text(args.out, text)
        return 0
    if args.study_cmd == "restore":
        restored = study.restore_runs(args.source, args.root)
        print(f"restored {len(restored)} finished run(s) from {args.source} into {args.root}")
        return 0
    spec = study.load_study(args.file)
    if args.study_cmd == "prepare":
        runs, pending = study.plan(spec, args.root)
        study.prepare_data(runs)
        print(f"prepared the data of {len(runs)} planned runs under {args.root}/_data"
              + (f" ({len(pending)} pending stage(s) prepare theirs when they run)" if pending else ""))
        return 0
    if args.study_cmd == "plan":
        runs, pending = study.plan(spec, args.root)
        counts = {}
        for r in runs:
            state, detail = ("same as " + r.same_as, "") if r.same_as else (
                study.run_state(r, args.root) if args.root else ("to do", ""))
            kind = "same as an earlier run" if r.same_as else state
            counts[kind] = counts.get(kind, 0) + 1
            print(f"{r.name:60s} {state}{(' (' + detail + ')') if detail else ''}")
        for name in pending:
            print(f"{name + '/*':60s} pending: waits for best_of of {_source_stages(spec, name)}")
        from .study import cost

        print(f"{len(runs)} runs planned ({', '.join(f'{v} {k}' for k, v in sorted(counts.items()))}); "
              f"{len(pending)} stage(s) pending (not counted below)")
        if cost.measured_rate(args.root) is not None:
            seconds = study.estimate_seconds(runs, args.root)
            left = f"{seconds / 3600:.1f} h" if seconds >= 3600 else f"{seconds / 60:.0f} min"
            print(f"about {left} of training left for one worker at the rate of this study's finished epochs")
        devices = args.on or [_this_device()]
        for device in devices:
            try:
                print(f"on {device}: {words.cost_text(cost.study_cost(runs, device))}")
            except ValueError as exc:
                if args.on:
                    raise
                print(f"no estimate for this machine: {exc}")
        return 0
    executor, threads, close = study.make_executor(args.executor)
    try:
        if args.study_cmd == "evaluate":
            out = study.evaluate_users(spec, args.root, args.user, executor, threads=threads, progress=not args.quiet)
        else:
            out = study.run(spec, args.root, executor, threads=threads, progress=not args.quiet)
    finally:
        close()
    if args.study_cmd == "evaluate":
        print(f"evaluated with user {args.user}: {len(out['done'])} now; skipped (not done, already evaluated): "
              f"{len(out['skipped'])}; failed: {len(out['failed'])}")
        for name, error in out["failed"].items():
            print(f"gtg: run {name}: {error}", file=sys.stderr)
        return 1 if out["failed"] else 0
    print(f"done: {len(out['done'])} trained now; failed: {len(out['failed'])}; "
          f"skipped (locked elsewhere): {len(out['skipped'])}; pending stages: {', '.join(out['pending']) or 'none'}")
    for name, error in out["failed"].items():
        print(f"gtg: run {name} failed: {error}", file=sys.stderr)
    return 1 if out["failed"] else 0


def _source_stages(spec, name) -> str:
    stage = next(s for s in spec.stages if s.name == name)
    return ", ".join(stage.best_of["stage"])


def _this_device() -> str:
    """This machine's device as the benchmark tables name it: the GPU's name, else "cpu"."""
    import torch

    return torch.cuda.get_device_name() if torch.cuda.is_available() else "cpu"


def cmd_book(args) -> int:
    from . import book

    if args.book_cmd == "build":
        return book.build(params=args.params, out=args.out)
    if args.book_cmd == "check":
        table = book.check_chapters(args.chapters, device=args.device, out=args.out, profile=args.profile)
        text = table.to_markdown(index=False)
        print(text)
        Path(args.out).mkdir(parents=True, exist_ok=True)
        (Path(args.out) / f"chapters-{args.device}.md").write_text(text + "\n", encoding="utf-8")
        return int((table["status"] != "ok").any())
    if args.book_cmd == "set-repository":
        for path in book.set_repository(args.url):
            print(f"updated {path}")
        return 0
    if args.book_cmd == "glued":
        import json

        folder = Path(args.folder)
        if not folder.is_dir():
            print(f"no folder {folder}: build the book first (make book)", file=sys.stderr)
            return 2
        print(json.dumps(book.glued_values(folder), indent=1, sort_keys=True))
        return 0
    return book.run(params=args.params, out=args.out, timeout="default" if args.timeout is None else args.timeout)


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="gtg", description="Guiding the Guidance: guidance signals, users, metrics")
    p.add_argument("--version", action="version", version=f"gtg_core {__version__}")
    sub = p.add_subparsers(dest="cmd")

    b = sub.add_parser("bench", help="speed comparisons against MONAI / scipy / FastGeodis")
    b.add_argument("what", choices=("guidance", "local", "clicks", "step", "train", "data", "ops", "study", "run"),
                   help="local: the geodesic signals on boxes vs the whole volume; ops: kernels and host reads "
                        "per call on the CUDA code path (any machine); study: the quick study, 1 vs 2 workers; "
                        "run: one phantom-mini epoch profiled on the CPU, today's path vs the CPU levers; step: the click "
                        "step M3 times per Table 3 setting (--repeats rounds), which decides the speed claim")
    b.add_argument("--threads", type=int, default=1, help="run, step: torch threads (a study worker's: 1)")
    b.add_argument("--study", default="studies/bench-runner.yml", help="study: the study file to time")
    b.add_argument("--device", default="auto", help="cpu, cuda or auto (default)")
    b.add_argument("--size", type=int, nargs="+", help="one or more X Y Z triples")
    b.add_argument("--repeats", type=int, default=5)
    b.add_argument("--out", default="benchmarks/results")
    b.add_argument("--skip-geodesic", action="store_true", help="leave out the FastGeodis-based signals")
    b.add_argument("--filters", type=int, nargs="+", help="train: U-Net filters per level (default DeepEdit's)")
    b.add_argument("--profile", nargs="+", metavar="SIGNAL",
                   help="guidance: instead of the comparison, profile these signals (torch.profiler tables)")
    b.add_argument("--variant", default="paper", help="guidance --profile: paper or reference_code")
    b.set_defaults(func=cmd_bench)

    t = sub.add_parser("train", help="train a DeepEdit model with the paper's click loop")
    t.add_argument("--config", help="a YAML file of TrainConfig fields")
    t.add_argument("--set", nargs=2, action="append", metavar=("FIELD", "VALUE"),
                   help="override one field (YAML value), e.g. --set signal gdt --set sigma 5")
    t.add_argument("--quiet", action="store_true", help="no progress bar")
    t.set_defaults(func=cmd_train)

    e = sub.add_parser("evaluate", help="evaluate a run's best model with 10 simulated clicks")
    e.add_argument("run_dir")
    e.add_argument("--dataset", help="another dataset folder (default: the run's validation cases)")
    e.add_argument("--device", help="override the run's device")
    e.add_argument("--split", choices=("validation", "test"), default="validation",
                   help="the run's validation cases (default) or its held-out test cases (test_cases > 0)")
    e.add_argument("--user", type=_user_argument, metavar=_USER_METAVAR,
                   help="click with this simulated user instead of the run's own, with options as NAME-OPTION=VALUE "
                        "(e.g. noisy_center-sd_mm=4; written to RUN/user-SPEC/)")
    e.set_defaults(func=cmd_evaluate)

    d = sub.add_parser("data", help="synthetic phantoms and dataset checks")
    dsub = d.add_subparsers(dest="data_cmd", required=True)
    s = dsub.add_parser("synth", help="write a phantom dataset in the Decathlon layout")
    s.add_argument("--kind", required=True, choices=("spleen_ct", "lesion_pet"))
    s.add_argument("--n", type=int, default=8)
    s.add_argument("--shape", type=int, nargs=3, default=(96, 96, 48))
    s.add_argument("--seed", type=int, default=0)
    s.add_argument("--out", required=True)
    c = dsub.add_parser("check", help="list the cases of a dataset folder and its problems")
    c.add_argument("root")
    d.set_defaults(func=cmd_data)

    st = sub.add_parser("study", help="plan, run and collect a hyperparameter study (a YAML file of stages)")
    stsub = st.add_subparsers(dest="study_cmd", required=True)
    sp = stsub.add_parser("plan", help="the runs with their state (done / partial / failed / to do) and a cost")
    sp.add_argument("file")
    sp.add_argument("--root", help="the study folder (default: none, every run is to do)")
    sp.add_argument("--on", action="append", default=[], metavar="DEVICE",
                    help="also estimate the training time on DEVICE from the committed benchmark tables: cpu or a "
                         "card's name, e.g. 'NVIDIA H200' (repeatable)")
    spp = stsub.add_parser("prepare", help="write the phantom data and preprocessed volumes the runs share "
                                           "(run does it too; for carrying to another machine)")
    spp.add_argument("file")
    spp.add_argument("--root", required=True)
    sr = stsub.add_parser("run", help="train every run that is not done; resumes; exits 1 if a run failed")
    sr.add_argument("file")
    sr.add_argument("--root", required=True, help="the study folder (run folders, data, results.csv)")
    sr.add_argument("--executor", default="local",
                    help="local (in-process or one worker per GPU), local:N (N processes), dask or dask:ADDRESS")
    sr.add_argument("--quiet", action="store_true", help="no progress bar")
    se = stsub.add_parser("evaluate", help="evaluate every done run's saved model with another simulated user "
                                           "(nothing is trained; RUN/user-USER/, collected to user_traces.csv)")
    se.add_argument("file")
    se.add_argument("--root", required=True, help="the study folder")
    se.add_argument("--user", required=True, type=_user_argument, metavar=_USER_METAVAR,
                    help="a simulated user, with options as NAME-OPTION=VALUE (e.g. label_only-background=ring)")
    se.add_argument("--executor", default="local", help="as for run")
    se.add_argument("--quiet", action="store_true", help="no progress bar")
    sc = stsub.add_parser("collect", help="results.csv, histories.csv and traces.csv of a study folder")
    sc.add_argument("root")
    sc.add_argument("--out", help="write the tables, provenance.json and the study file there instead")
    sc.add_argument("--study", help="the study file (copied to --out, its deviations into provenance.json)")
    sc.add_argument("--runs", action="store_true", help="with --out: also every finished run folder as "
                    "runs/<stage>/<run>.tar.gz (no models), which gtg study restore brings back")
    spr = stsub.add_parser("precision", help="the paired precision check of a study (bf16 - fp32 on its test "
                           "split) as a Markdown table")
    spr.add_argument("source", help="a collected study folder (with test_traces.csv)")
    spr.add_argument("--stage", default="precision")
    spr.add_argument("--out", help="also write the table there")
    sre = stsub.add_parser("restore", help="unpack the finished runs a collect --runs committed into a study "
                           "folder, so that run trains only the rest")
    sre.add_argument("source", help="the folder collect --out --runs wrote (e.g. studies/results/<study>)")
    sre.add_argument("--root", required=True, help="the study folder")
    st.set_defaults(func=cmd_study)

    k = sub.add_parser("book", help="execute the notebooks and build the book")
    ksub = k.add_subparsers(dest="book_cmd", required=True)
    kb = ksub.add_parser("build", help="execute the notebooks with their default parameters and build _build/html")
    kb.add_argument("--params", default=None)
    kb.add_argument("--out", default=None)
    kr = ksub.add_parser("run", help="execute the notebooks with a parameter file (papermill) and build a book of them")
    kr.add_argument("--params", required=True)
    kr.add_argument("--out", required=True)
    kr.add_argument("--timeout", default=None,
                    help="seconds a cell may run, or 'none' (default: the parameter file's timeout, else 900; the "
                         "real-data files train for hours in one cell and say none)")
    kc = ksub.add_parser("check", help="execute some chapters on a device and report each (ok / failed, seconds)")
    kc.add_argument("--device", required=True)
    kc.add_argument("--chapters", nargs="+", required=True)
    kc.add_argument("--out", required=True)
    kc.add_argument("--profile", default="quick")
    ks = ksub.add_parser("set-repository", help="name the published repository (https://github.com/OWNER/NAME) in "
                                                "_config.yml and every notebook's setup cell")
    ks.add_argument("url")
    kg = ksub.add_parser("glued", help="every value the built pages glued, as JSON (page -> name -> text): diff two "
                                       "builds to see what a change moved")
    kg.add_argument("folder", nargs="?", default="_build/jupyter_execute/book")
    k.set_defaults(func=cmd_book)
    return p


def main(argv=None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.print_help()
        return 0
    try:
        return int(args.func(args) or 0)
    except (ValueError, FileNotFoundError) as exc:
        print(f"gtg: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())

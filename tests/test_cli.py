# The `hw5` command: train (from the cache here) prints accuracy and time; bad arguments are refused.
import pytest

from hw5.deliver.cli import main


@pytest.mark.training
def test_cli_train_prints_accuracy_and_time(part1, capsys):
    # the session fixture filled the cache, so this loads and evaluates without training
    assert main(["train", "--part", "1"]) == 0
    out = capsys.readouterr().out
    assert f"part 1: test accuracy {part1.log.test_accuracy:.4f} on 10,000 test images (loaded from cache" in out
    assert f"time to 90% test accuracy: {part1.log.time_to_target:.1f} s of training" in out


@pytest.mark.parametrize("argv, message", [
    (["train", "--epochs", "0"], "expected a positive integer, got 0"),
    (["train", "--epochs", "two"], "expected a positive integer, got 'two'"),
    (["train", "--part", "3"], "invalid choice: 3"),
    (["fly"], "invalid choice: 'fly'"),
    ([], "the following arguments are required: command"),
])
def test_cli_rejects_bad_arguments(argv, message, capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(argv)
    assert exit_info.value.code == 2
    assert message in capsys.readouterr().err

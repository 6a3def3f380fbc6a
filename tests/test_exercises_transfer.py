"""lib.exercises.transfer (chapter 07): the solutions pass, typical mistakes fail."""

import torch

from lib import pretrained
from lib.exercises import transfer as ex


def freeze_right(net):
    pretrained.freeze_(net[:12])
    return net


def freeze_weights_only(net):  # the BN trap: running statistics still move in train mode
    net[:12].requires_grad_(False)
    return net


def freeze_too_much(net):
    pretrained.freeze_(net[:16])
    net[-1].requires_grad_(False)
    return net


def groups_right(net, lr, ratio):
    head = list(net[-1].parameters())
    ids = {id(p) for p in head}
    rest = [p for p in net.parameters() if p.requires_grad and id(p) not in ids]
    return [{"params": head, "lr": lr}, {"params": rest, "lr": lr * ratio}]


def groups_with_frozen(net, lr, ratio):
    head = list(net[-1].parameters())
    ids = {id(p) for p in head}
    rest = [p for p in net.parameters() if id(p) not in ids]
    return [{"params": head, "lr": lr}, {"params": rest, "lr": lr * ratio}]


def probe_right(f_train, y_train, f_test):
    mean, std = f_train.mean(0), f_train.std(0) + 1e-3
    a, b = (f_train - mean) / std, (f_test - mean) / std
    head = torch.nn.Linear(a.shape[1], 10)
    opt = torch.optim.LBFGS(head.parameters(), max_iter=100, line_search_fn="strong_wolfe")

    def closure():
        opt.zero_grad()
        loss = torch.nn.functional.cross_entropy(head(a), y_train)
        loss = loss + 1e-3 * head.weight.square().sum()
        loss.backward()
        return loss

    opt.step(closure)
    return head(b).argmax(1)


def test_solutions_pass_and_mistakes_fail(capsys):
    torch.set_num_threads(1)
    assert ex.check_freeze_but_last(freeze_right)
    assert not ex.check_freeze_but_last(freeze_weights_only)
    assert "running statistics" in capsys.readouterr().out
    assert not ex.check_freeze_but_last(freeze_too_much)
    assert ex.check_param_groups(groups_right)
    assert not ex.check_param_groups(groups_with_frozen)
    assert ex.check_linear_probe(probe_right)
    assert not ex.check_linear_probe(lambda a, y, b: torch.zeros(len(b), dtype=torch.long))

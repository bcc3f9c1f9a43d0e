"""The names of the user attributes a search keeps on its Optuna trials (and study), in one place."""

WARM_START = "warm_start"  # a recipe of the warm start (base, library, strong recipes): its index in the plan
WARM_PLAN = "warm_start_plan"  # study attribute: the warm start's recipes, as trial parameters, in order
LOCAL = "local"  # a step from the incumbent (local search)
OUTSIDE = "outside_range"  # knob values a queued recipe pins outside their search ranges
EPOCHS_RUN = "epochs_run"  # epochs trained so far
EPOCHS_CHARGED = "epochs_charged"  # what the epochs budget counts: each epoch weighted by its training images
#                                    over a trial's (a cross-fitted rerun's folds train on fewer)
VAL_IMAGES = "val_images"  # validation images a trial is scored on (the local-step rule's noise)
WORKER = "worker"  # host:pid of the process running the trial
STATUS = "status"  # how training ended (completed, early_stopped, ...)
ERROR = "error"  # why a failed trial failed
INTERRUPTED = "interrupted"  # cut off by Ctrl-C or a kill: run again
RERUN_OF = "rerun_of"  # a recipe queued again after a cut: the number of the trial it repeats
NOT_RUN = "not_run"  # queued, but the search's budget ended before it started: queued again on resume
CUT_BY_BUDGET = "cut_by_budget"  # stopped because the search's budget ran out
FOLD_SCORES = "fold_scores"  # cross-validation: the score of each fold so far
BASELINE = "baseline"  # the base recipe's trial (and its confirmation reruns): the never-worse reference
CONFIRMS = "confirms"  # a confirmation rerun: the number of the trial whose recipe it trains again
CONFIRM_SEED = "confirm_seed"  # a confirmation rerun: the seed it trains with
VAL_CORRECT = "val_correct"  # per validation image, right or wrong (adoption.pack)
VAL_LABELS = "val_labels"  # a search by a balanced metric: per validation image, its class (adoption.pack_labels)
EPOCH_SECONDS = "epoch_seconds"  # a trial's mean seconds an epoch (a far slower trial is stopped)
STOPPED = "stopped"  # why the search stopped a trial early, other than pruning

LIBRARY_USED = "library_used"  # study attribute: the library entries the warm start tried (descriptions)
REFERENCE = "reference_recipe"  # study attribute: the default recipe at the data's size and colour (display)

KEPT_ON_RERUN = (WARM_START, LOCAL, OUTSIDE, BASELINE, CONFIRMS, CONFIRM_SEED)  # what a rerun keeps of the trial it repeats

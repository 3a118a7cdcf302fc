# keras3 functions gru does not have. Each is exported as a stub that
# raises a classed gru_error_unsupported naming the keras3 function, so a
# keras3 script fails at the first call gru cannot serve with a message
# saying so, instead of "could not find function". When gru gains one of
# them, its name leaves this list (test-unsupported.R checks that no stub
# shadows a real function).

keras3_unsupported <- c(
  # recurrent layers other than the GRU
  "layer_lstm", "layer_lstm_cell", "layer_simple_rnn", "layer_simple_rnn_cell",
  "layer_conv_lstm_1d", "layer_conv_lstm_2d", "layer_conv_lstm_3d",
  "layer_cudnn_lstm",
  # layers of issue 18, and others keras3 has
  "layer_dot",
  "layer_alpha_dropout", "layer_activity_regularization", "layer_lambda",
  "layer_conv_2d", "layer_conv_3d", "layer_conv_1d_transpose",
  "layer_separable_conv_1d", "layer_depthwise_conv_1d",
  "layer_max_pooling_2d", "layer_average_pooling_2d",
  "layer_global_average_pooling_2d", "layer_global_max_pooling_2d",
  "layer_upsampling_1d", "layer_zero_padding_1d", "layer_cropping_1d",
  "layer_attention", "layer_additive_attention", "layer_multi_head_attention",
  "layer_normalization", "layer_text_vectorization", "layer_string_lookup",
  "layer_integer_lookup", "layer_category_encoding", "layer_hashing",
  "layer_rescaling", "layer_discretization", "layer_identity",
  "layer_activation_relu", "layer_activation_leaky_relu",
  "layer_activation_softmax", "layer_activation_elu",
  # optimizers, losses, metrics and callbacks gru lacks
  "optimizer_nadam", "optimizer_adamax", "optimizer_adadelta", "optimizer_adamw",
  "optimizer_ftrl", "optimizer_lion",
  "loss_cosine_similarity", "loss_kl_divergence", "loss_poisson",
  "loss_log_cosh", "loss_hinge", "loss_squared_hinge",
  "loss_mean_absolute_percentage_error", "loss_mean_squared_logarithmic_error",
  "metric_auc", "metric_precision", "metric_recall", "metric_root_mean_squared_error",
  "callback_tensorboard", "callback_learning_rate_scheduler",
  "callback_terminate_on_nan", "callback_backup_and_restore",
  "callback_remote_monitor",
  # saving and the Python side
  "save_model_tf", "load_model_tf", "save_model_hdf5", "save_model_weights_hdf5", "export_savedmodel", "serialize_model",
  "unserialize_model", "use_backend", "config_backend", "install_keras",
  "is_keras_available", "text_tokenizer", "fit_generator",
  "evaluate_generator", "predict_generator", "image_dataset_from_directory",
  "text_dataset_from_directory", "split_dataset", "plot_model"
)

unsupported_stub <- function(name) {
  force(name)
  function(...) {
    abort_gru(
      c("{.fn {name}} is a keras3 function that gru does not have (yet).",
        "i" = "gru runs GRU models without Python; the README's \"From keras3\" table lists what it supports."),
      class = "gru_error_unsupported", call = rlang::caller_env(0)
    )
  }
}

#' keras3 functions gru does not provide
#'
#' Each of these keras3 names is exported by gru so that a keras3 script
#' run under `library(gru)` fails at the first call gru cannot serve with a
#' classed error (`gru_error_unsupported`) naming the function, rather than
#' "could not find function". See the README's "From keras3" section for
#' what gru supports.
#'
#' @param ... Ignored.
#' @returns Never returns: always an error of class `gru_error_unsupported`.
#' @name keras3_unsupported
#' @keywords internal
#' @examples
#' try(layer_lstm(units = 4))
NULL

# The stubs, one per name above (generated from the list).

#' @rdname keras3_unsupported
#' @export
layer_lstm <- unsupported_stub("layer_lstm")

#' @rdname keras3_unsupported
#' @export
layer_lstm_cell <- unsupported_stub("layer_lstm_cell")

#' @rdname keras3_unsupported
#' @export
layer_simple_rnn <- unsupported_stub("layer_simple_rnn")

#' @rdname keras3_unsupported
#' @export
layer_simple_rnn_cell <- unsupported_stub("layer_simple_rnn_cell")

#' @rdname keras3_unsupported
#' @export
layer_conv_lstm_1d <- unsupported_stub("layer_conv_lstm_1d")

#' @rdname keras3_unsupported
#' @export
layer_conv_lstm_2d <- unsupported_stub("layer_conv_lstm_2d")

#' @rdname keras3_unsupported
#' @export
layer_conv_lstm_3d <- unsupported_stub("layer_conv_lstm_3d")

#' @rdname keras3_unsupported
#' @export
layer_cudnn_lstm <- unsupported_stub("layer_cudnn_lstm")

#' @rdname keras3_unsupported
#' @export


#' @rdname keras3_unsupported
#' @export
layer_dot <- unsupported_stub("layer_dot")

#' @rdname keras3_unsupported
#' @export
layer_alpha_dropout <- unsupported_stub("layer_alpha_dropout")

#' @rdname keras3_unsupported
#' @export
layer_activity_regularization <- unsupported_stub("layer_activity_regularization")

#' @rdname keras3_unsupported
#' @export
layer_lambda <- unsupported_stub("layer_lambda")

#' @rdname keras3_unsupported
#' @export
layer_conv_2d <- unsupported_stub("layer_conv_2d")

#' @rdname keras3_unsupported
#' @export
layer_conv_3d <- unsupported_stub("layer_conv_3d")

#' @rdname keras3_unsupported
#' @export
layer_conv_1d_transpose <- unsupported_stub("layer_conv_1d_transpose")

#' @rdname keras3_unsupported
#' @export
layer_separable_conv_1d <- unsupported_stub("layer_separable_conv_1d")

#' @rdname keras3_unsupported
#' @export
layer_depthwise_conv_1d <- unsupported_stub("layer_depthwise_conv_1d")

#' @rdname keras3_unsupported
#' @export
layer_max_pooling_2d <- unsupported_stub("layer_max_pooling_2d")

#' @rdname keras3_unsupported
#' @export
layer_average_pooling_2d <- unsupported_stub("layer_average_pooling_2d")

#' @rdname keras3_unsupported
#' @export
layer_global_average_pooling_2d <- unsupported_stub("layer_global_average_pooling_2d")

#' @rdname keras3_unsupported
#' @export
layer_global_max_pooling_2d <- unsupported_stub("layer_global_max_pooling_2d")

#' @rdname keras3_unsupported
#' @export
layer_upsampling_1d <- unsupported_stub("layer_upsampling_1d")

#' @rdname keras3_unsupported
#' @export
layer_zero_padding_1d <- unsupported_stub("layer_zero_padding_1d")

#' @rdname keras3_unsupported
#' @export
layer_cropping_1d <- unsupported_stub("layer_cropping_1d")

#' @rdname keras3_unsupported
#' @export
layer_attention <- unsupported_stub("layer_attention")

#' @rdname keras3_unsupported
#' @export
layer_additive_attention <- unsupported_stub("layer_additive_attention")

#' @rdname keras3_unsupported
#' @export
layer_multi_head_attention <- unsupported_stub("layer_multi_head_attention")

#' @rdname keras3_unsupported
#' @export
layer_normalization <- unsupported_stub("layer_normalization")

#' @rdname keras3_unsupported
#' @export
layer_text_vectorization <- unsupported_stub("layer_text_vectorization")

#' @rdname keras3_unsupported
#' @export
layer_string_lookup <- unsupported_stub("layer_string_lookup")

#' @rdname keras3_unsupported
#' @export
layer_integer_lookup <- unsupported_stub("layer_integer_lookup")

#' @rdname keras3_unsupported
#' @export
layer_category_encoding <- unsupported_stub("layer_category_encoding")

#' @rdname keras3_unsupported
#' @export
layer_hashing <- unsupported_stub("layer_hashing")

#' @rdname keras3_unsupported
#' @export
layer_rescaling <- unsupported_stub("layer_rescaling")

#' @rdname keras3_unsupported
#' @export
layer_discretization <- unsupported_stub("layer_discretization")

#' @rdname keras3_unsupported
#' @export
layer_identity <- unsupported_stub("layer_identity")

#' @rdname keras3_unsupported
#' @export
layer_activation_relu <- unsupported_stub("layer_activation_relu")

#' @rdname keras3_unsupported
#' @export
layer_activation_leaky_relu <- unsupported_stub("layer_activation_leaky_relu")

#' @rdname keras3_unsupported
#' @export
layer_activation_softmax <- unsupported_stub("layer_activation_softmax")

#' @rdname keras3_unsupported
#' @export
layer_activation_elu <- unsupported_stub("layer_activation_elu")

#' @rdname keras3_unsupported
#' @export
optimizer_nadam <- unsupported_stub("optimizer_nadam")

#' @rdname keras3_unsupported
#' @export
optimizer_adamax <- unsupported_stub("optimizer_adamax")

#' @rdname keras3_unsupported
#' @export
optimizer_adadelta <- unsupported_stub("optimizer_adadelta")

#' @rdname keras3_unsupported
#' @export
optimizer_adamw <- unsupported_stub("optimizer_adamw")

#' @rdname keras3_unsupported
#' @export
optimizer_ftrl <- unsupported_stub("optimizer_ftrl")

#' @rdname keras3_unsupported
#' @export
optimizer_lion <- unsupported_stub("optimizer_lion")

#' @rdname keras3_unsupported
#' @export
loss_cosine_similarity <- unsupported_stub("loss_cosine_similarity")

#' @rdname keras3_unsupported
#' @export
loss_kl_divergence <- unsupported_stub("loss_kl_divergence")

#' @rdname keras3_unsupported
#' @export
loss_poisson <- unsupported_stub("loss_poisson")

#' @rdname keras3_unsupported
#' @export
loss_log_cosh <- unsupported_stub("loss_log_cosh")

#' @rdname keras3_unsupported
#' @export
loss_hinge <- unsupported_stub("loss_hinge")

#' @rdname keras3_unsupported
#' @export
loss_squared_hinge <- unsupported_stub("loss_squared_hinge")

#' @rdname keras3_unsupported
#' @export
loss_mean_absolute_percentage_error <- unsupported_stub("loss_mean_absolute_percentage_error")

#' @rdname keras3_unsupported
#' @export
loss_mean_squared_logarithmic_error <- unsupported_stub("loss_mean_squared_logarithmic_error")

#' @rdname keras3_unsupported
#' @export
metric_auc <- unsupported_stub("metric_auc")

#' @rdname keras3_unsupported
#' @export
metric_precision <- unsupported_stub("metric_precision")

#' @rdname keras3_unsupported
#' @export
metric_recall <- unsupported_stub("metric_recall")

#' @rdname keras3_unsupported
#' @export
metric_root_mean_squared_error <- unsupported_stub("metric_root_mean_squared_error")

#' @rdname keras3_unsupported
#' @export
callback_tensorboard <- unsupported_stub("callback_tensorboard")

#' @rdname keras3_unsupported
#' @export
callback_learning_rate_scheduler <- unsupported_stub("callback_learning_rate_scheduler")

#' @rdname keras3_unsupported
#' @export
callback_terminate_on_nan <- unsupported_stub("callback_terminate_on_nan")

#' @rdname keras3_unsupported
#' @export
callback_backup_and_restore <- unsupported_stub("callback_backup_and_restore")

#' @rdname keras3_unsupported
#' @export
callback_remote_monitor <- unsupported_stub("callback_remote_monitor")

#' @rdname keras3_unsupported
#' @export
save_model_tf <- unsupported_stub("save_model_tf")

#' @rdname keras3_unsupported
#' @export
load_model_tf <- unsupported_stub("load_model_tf")

#' @rdname keras3_unsupported
#' @export
export_savedmodel <- unsupported_stub("export_savedmodel")

#' @rdname keras3_unsupported
#' @export
serialize_model <- unsupported_stub("serialize_model")

#' @rdname keras3_unsupported
#' @export
unserialize_model <- unsupported_stub("unserialize_model")

#' @rdname keras3_unsupported
#' @export
use_backend <- unsupported_stub("use_backend")

#' @rdname keras3_unsupported
#' @export
config_backend <- unsupported_stub("config_backend")

#' @rdname keras3_unsupported
#' @export
install_keras <- unsupported_stub("install_keras")

#' @rdname keras3_unsupported
#' @export
is_keras_available <- unsupported_stub("is_keras_available")

#' @rdname keras3_unsupported
#' @export
text_tokenizer <- unsupported_stub("text_tokenizer")

#' @rdname keras3_unsupported
#' @export
fit_generator <- unsupported_stub("fit_generator")

#' @rdname keras3_unsupported
#' @export
evaluate_generator <- unsupported_stub("evaluate_generator")

#' @rdname keras3_unsupported
#' @export
predict_generator <- unsupported_stub("predict_generator")

#' @rdname keras3_unsupported
#' @export
image_dataset_from_directory <- unsupported_stub("image_dataset_from_directory")

#' @rdname keras3_unsupported
#' @export
text_dataset_from_directory <- unsupported_stub("text_dataset_from_directory")

#' @rdname keras3_unsupported
#' @export
split_dataset <- unsupported_stub("split_dataset")

#' @rdname keras3_unsupported
#' @export
plot_model <- unsupported_stub("plot_model")

#' @rdname keras3_unsupported
#' @export
save_model_hdf5 <- unsupported_stub("save_model_hdf5")

#' @rdname keras3_unsupported
#' @export
save_model_weights_hdf5 <- unsupported_stub("save_model_weights_hdf5")

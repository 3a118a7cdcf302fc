# keras3 re-exports the pipe and zeallot's destructuring assignment, and
# keras code uses both (`x %>% layer_gru(32)`,
# `c(output, state) %<-% gru(x)`), so gru does too.

#' @importFrom magrittr %>%
#' @export
magrittr::`%>%`

#' @importFrom zeallot %<-%
#' @export
zeallot::`%<-%`

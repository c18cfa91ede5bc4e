// A yes/no item's gold answer: plain data, shared by the datasets, the results files and the webviews.

export type Label = 'yes' | 'no';

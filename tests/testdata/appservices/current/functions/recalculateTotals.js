exports = async function (changeEvent) {
  return null;
};
